package forge

import "testing"

var testModels = []Model{
	{Title: "SDXL_FP16_waiNSFWIllustrious_v120.safetensors [a1b2c3d4e5]", ModelName: "SDXL_FP16_waiNSFWIllustrious_v120", Hash: "a1b2c3d4e5", SHA256: "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00", Filename: "/models/Stable-diffusion/SDXL_FP16_waiNSFWIllustrious_v120.safetensors"},
	{Title: "ponyDiffusionV6XL.safetensors [67ab2fd8ec]", ModelName: "ponyDiffusionV6XL", Hash: "67ab2fd8ec", Filename: `C:\sd\models\Stable-diffusion\ponyDiffusionV6XL.safetensors`},
	{Title: "flux/flux1-dev-bnb-nf4-v2.safetensors [f0d4e5a6b7]", ModelName: "flux\\flux1-dev-bnb-nf4-v2", Hash: "f0d4e5a6b7", Filename: "/models/Stable-diffusion/flux/flux1-dev-bnb-nf4-v2.safetensors"},
}

func TestFindModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q     string
		title string
		by    string
	}{
		{"ponyDiffusionV6XL.safetensors [67ab2fd8ec]", testModels[1].Title, MatchTitle},
		{"PONYDIFFUSIONV6XL.SAFETENSORS [67AB2FD8EC]", testModels[1].Title, MatchTitle},
		{"ponyDiffusionV6XL", testModels[1].Title, MatchName},
		{"ponyDiffusionV6XL.safetensors", testModels[1].Title, MatchFilename},
		{`D:\other\ponyDiffusionV6XL.safetensors`, testModels[1].Title, MatchFilename},
		{"flux1-dev-bnb-nf4-v2", testModels[2].Title, MatchStem},
		{"flux1-dev-bnb-nf4-v2.ckpt", testModels[2].Title, MatchStem},
		{"67ab2fd8ec", testModels[1].Title, MatchHash},
		{"a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00", testModels[0].Title, MatchHash},
		{"a1b2c3d4", testModels[0].Title, MatchHash},
		{"renamed_model.safetensors [f0d4e5a6b7]", testModels[2].Title, MatchHash},
		{"unknown_model", "", ""},
		{"deadbeef00", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		m, by, ok := FindModel(testModels, tc.q)
		if ok != (tc.title != "") || m.Title != tc.title || by != tc.by {
			t.Errorf("FindModel(%q) = %q by %q ok=%v; want %q by %q", tc.q, m.Title, by, ok, tc.title, tc.by)
		}
	}
}

func TestResolveModel(t *testing.T) {
	t.Parallel()
	fb := "SDXL_FP16_waiNSFWIllustrious_v120.safetensors"
	tests := []struct {
		name      string
		models    []Model
		requested string
		want      ModelResolution
	}{
		{"by name gives title", testModels, "ponyDiffusionV6XL", ModelResolution{Requested: "ponyDiffusionV6XL", Checkpoint: testModels[1].Title, Name: "ponyDiffusionV6XL", MatchedBy: MatchName}},
		{"unknown gives fallback title", testModels, "gone", ModelResolution{Requested: "gone", Checkpoint: testModels[0].Title, Name: testModels[0].ModelName, MatchedBy: MatchFallback, FallbackUsed: true}},
		{"empty request gives fallback", testModels, "", ModelResolution{Checkpoint: testModels[0].Title, Name: testModels[0].ModelName, MatchedBy: MatchFallback, FallbackUsed: true}},
		{"no list keeps request unverified", nil, "pony", ModelResolution{Requested: "pony", Checkpoint: "pony", Name: "pony", MatchedBy: MatchUnverified}},
		{"no list and no request", nil, "", ModelResolution{Checkpoint: fb, Name: "SDXL_FP16_waiNSFWIllustrious_v120", MatchedBy: MatchUnverified, FallbackUsed: true}},
		{"fallback missing from list", testModels[1:], "gone", ModelResolution{Requested: "gone", Checkpoint: fb, Name: "SDXL_FP16_waiNSFWIllustrious_v120", MatchedBy: MatchFallback, FallbackUsed: true}},
	}
	for _, tc := range tests {
		if got := ResolveModel(tc.models, tc.requested, fb); got != tc.want {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestSameModel(t *testing.T) {
	t.Parallel()
	if !SameModel(testModels, "ponyDiffusionV6XL.safetensors [67ab2fd8ec]", "ponyDiffusionV6XL") {
		t.Error("title vs name should match (defect 30)")
	}
	if SameModel(testModels, testModels[0].Title, "ponyDiffusionV6XL") {
		t.Error("different models match")
	}
	if !SameModel(nil, "model.safetensors [abcdef0123]", "model") {
		t.Error("without a list the name part decides")
	}
}

func BenchmarkFindModel(b *testing.B) {
	models := make([]Model, 0, 200)
	for i := 0; i < 197; i++ {
		models = append(models, Model{Title: "m" + itoa(i) + ".safetensors [0123456789]", ModelName: "m" + itoa(i), Filename: "/x/m" + itoa(i) + ".safetensors"})
	}
	models = append(models, testModels...)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := FindModel(models, "renamed.safetensors [f0d4e5a6b7]"); !ok {
			b.Fatal("not found")
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
