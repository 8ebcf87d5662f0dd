package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSocketDirOfAKilledControlPlane: the socket directory of a long data
// directory is named for it, so the next control plane of that directory
// takes over one a killed control plane left (fresh, nothing of it kept),
// and RemoveSocketDir removes it with its data directory.
func TestSocketDirOfAKilledControlPlane(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("v", 63)+"."+strings.Repeat("n", 63))
	first, _, err := socketPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveSocketDir(dir) })
	if !strings.HasPrefix(first, os.TempDir()) || len(first) > maxSocketPath {
		t.Fatalf("socket %s: want a short path under %s", first, os.TempDir())
	}
	// Killed: its socket stays, and whatever else was there.
	stale := filepath.Join(filepath.Dir(first), "stale")
	for _, f := range []string{first, stale} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	again, _, err := socketPath(dir)
	if err != nil {
		t.Fatalf("the next control plane of %s cannot take its socket directory over: %v", dir, err)
	}
	if again != first {
		t.Errorf("socket %s, then %s: want the same for one data directory", first, again)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("%s of the killed control plane was kept: %v", stale, err)
	}
	if fi, err := os.Stat(filepath.Dir(again)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v, %v; want private (0700)", fi.Mode(), err)
	}
	other, _, err := socketPath(dir + "x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveSocketDir(dir + "x") })
	if filepath.Dir(other) == filepath.Dir(first) {
		t.Errorf("two data directories share the socket directory %s", filepath.Dir(first))
	}

	if err := RemoveSocketDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(first)); !os.IsNotExist(err) {
		t.Errorf("RemoveSocketDir left %s: %v", filepath.Dir(first), err)
	}
}
