package wiki

import (
	"regexp"
	"strings"
)

// linkRE matches [[Title]] and [[Title|label]].
var linkRE = regexp.MustCompile(`\[\[([^\[\]|\n]+)(?:\|[^\[\]\n]*)?\]\]`)

// NormTitle is the form titles are compared in for links: case folded,
// white space collapsed.
func NormTitle(t string) string {
	return strings.ToLower(strings.Join(strings.Fields(t), " "))
}

// Links returns the titles a body links to with [[...]], in order, unique.
func Links(body string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
		t := strings.TrimSpace(m[1])
		if t == "" || seen[NormTitle(t)] {
			continue
		}
		seen[NormTitle(t)] = true
		out = append(out, t)
	}
	return out
}

// LinkTargets is Links normalised, as the store's link index keeps them.
func LinkTargets(body string) []string {
	ls := Links(body)
	for i, l := range ls {
		ls[i] = NormTitle(l)
	}
	return ls
}
