package architecture

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// labTesters may import the lab in their tests: they test the lab itself,
// or drive one.
var labTesters = []string{"lab", "cmd", "test/e2e", "test/bench", "test/framework", "hack/conformance"}

// TestTestsBelowTheLabDoNotImportIt: a package's tests, and the test
// helpers under test/, take port claims and the binaries' directory from
// internal leaves, not from the lab, the top layer.
func TestTestsBelowTheLabDoNotImportIt(t *testing.T) {
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, _ := strings.CutPrefix(fields[0], module)
		if testsTheLab(pkg) {
			continue
		}
		checked++
		for _, d := range fields[1:] {
			if d == module+"lab" {
				t.Errorf("%s imports the lab in its tests: take ports from internal/portclaim and binaries from internal/k8sbin", pkg)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d packages of the module: is the test running inside it?", checked)
	}
}

func testsTheLab(pkg string) bool {
	for _, p := range labTesters {
		if under(pkg, p) {
			return true
		}
	}
	return false
}
