package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"autumn-2026", "send", "send-group", "settle", "spring"}
	for in, want := range map[string]string{
		"sprng": "spring", "spirng": "spring", "sned": "send", "setle": "settle",
		"autumn": "autumn-2026", // a prefix
		"winter": "", "x": "", "": "",
	} {
		if got := Closest(in, names); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Closest("spring", nil); got != "" {
		t.Errorf("no names: %q", got)
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"春节", "春天", 1}, {"spring", "sprng", 1}} {
		if d := levenshtein(tc.a, tc.b); d != tc.d {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}
