package media

import "encoding/json"

// jsonString marshals v; values here are plain data that always marshal.
func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}
