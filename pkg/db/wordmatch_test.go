package db

import "testing"

func TestWordMatch(t *testing.T) {
	for _, c := range []struct {
		name, value  string
		phrase, want bool
	}{
		{"juggernautXL_v9", "jugger", false, true},
		{"juggernautXL_v9", "xl", false, true},          // a case change starts a word
		{"juggernautXL_v9", "juggernautx", false, true}, // prefix across the case change
		{"juggernautXL_v9", "ernaut", false, false},     // not inside a word
		{"juggernautXL_v9", "xl v9", true, true},        // adjacent words
		{"juggernautXL_v9", "v9 xl", true, false},       // in order
		{"Café Modèle v2", "cafe mode", false, true},    // accents folded, last word by prefix
		{"Café Modèle v2", "cafe mode", true, false},    // a phrase: whole words
		{"DPM++ 2M Karras", "dpm++ 2m", true, true},     // punctuation separates
		{"ponyDiffusionV6XL", "v6", false, true},
		{"anything", "", false, false}, // no words: nothing
		{"anything", "+++", false, false},
	} {
		if got := WordMatch(c.name, c.value, c.phrase); got != c.want {
			t.Errorf("WordMatch(%q, %q, %v) = %v", c.name, c.value, c.phrase, got)
		}
	}
}
