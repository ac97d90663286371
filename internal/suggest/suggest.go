// Package suggest finds the name a mistyped one was probably meant to be,
// for "did you mean" in errors.
package suggest

import "strings"

// Closest returns the name nearest to s by edit distance, if it is near
// enough to be a typo of it (at most a third of its letters, or two,
// changed), or a name s is the start of; else "".
func Closest(s string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		d := levenshtein(s, n)
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if bestD >= 0 && bestD <= max(2, len([]rune(s))/3) {
		return best
	}
	for _, n := range names {
		if len(s) >= 3 && strings.HasPrefix(n, s) {
			return n
		}
	}
	return ""
}

// levenshtein is the edit distance between a and b, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
