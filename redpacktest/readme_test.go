package redpacktest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The README's redpacktest snippet is ExampleServer_unknownOutcome, line
// for line (but for how the server starts and how a test fails), so that
// a test copied from it reaches the unknown path as the example proves.
func TestREADMESnippetIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Testing your code: redpacktest\n\n```go\n")
	if !ok {
		t.Fatal("README: no go block after \"## Testing your code: redpacktest\"")
	}
	snippet, _, _ := strings.Cut(after, "```")
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, example, _ := strings.Cut(string(src), "func ExampleServer_unknownOutcome() {")
	example, _, _ = strings.Cut(example, "\n}\n")
	have := map[string]bool{}
	for _, l := range strings.Split(example, "\n") {
		have[strings.TrimSpace(l)] = true
	}
	checked := 0
	for _, l := range strings.Split(snippet, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "//") || strings.HasPrefix(l, "srv := redpacktest.Start(t)") || strings.HasPrefix(l, "t.Fatalf(") {
			continue
		}
		checked++
		if !have[l] {
			t.Errorf("README line not in ExampleServer_unknownOutcome: %s", l)
		}
	}
	if checked < 6 {
		t.Errorf("only %d README lines checked", checked)
	}
}

// go doc redpacktest.Server names the methods tests call, which live on
// the embedded Handler and which go doc does not list under Server.
func TestServerDocNamesHandlerMethods(t *testing.T) {
	out, err := exec.Command("go", "doc", "github.com/redpack-go/redpack/redpacktest.Server").CombinedOutput()
	if err != nil {
		t.Fatalf("go doc: %v\n%s", err, out)
	}
	for _, m := range []string{"Inject", "Packet", "Packets", "Paid", "Claim", "Advance", "Requests", "Reset", "SetBalance"} {
		if !strings.Contains(string(out), "Handler."+m) {
			t.Errorf("go doc redpacktest.Server does not name Handler.%s:\n%s", m, out)
		}
	}
}
