package images

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// libraryDirs are where the loader looks for a library no RUNPATH names,
// in its order: Debian's multiarch directories, then the classic ones.
// The images have no ld.so.cache, so a library must be in one of these.
var libraryDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib", "/lib64", "/usr/lib64"}

// program returns the entries that carry the ELF binary at from to dest in
// an image, with what it needs to start: its loader and every shared
// library it needs, transitively, each at the path the loader will look
// for it, read from this machine. The tools the e2e images carry come from
// Debian, which links them dynamically.
func program(dest, from string) ([]entry, error) {
	entries := []entry{{path: strings.TrimPrefix(dest, "/"), from: from, mode: 0o755}}
	seen := map[string]bool{}
	queue := []string{from}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		needs, err := needed(file)
		if err != nil {
			return nil, err
		}
		for _, lib := range needs {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			entries = append(entries, entry{path: strings.TrimPrefix(lib, "/"), from: lib, mode: 0o755})
			queue = append(queue, lib)
		}
	}
	return entries, nil
}

// needed is the loader file names the ELF file at p needs: its
// interpreter and the libraries in its DT_NEEDED, found as the loader
// finds them (RUNPATH, then the system directories).
func needed(p string) ([]string, error) {
	f, err := elf.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	var out []string
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("%s: interpreter: %w", p, err)
		}
		out = append(out, strings.TrimRight(string(b), "\x00"))
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		paths, _ := f.DynString(tag)
		for _, rp := range paths {
			for _, d := range filepath.SplitList(rp) {
				dirs = append(dirs, strings.ReplaceAll(d, "$ORIGIN", path.Dir(p)))
			}
		}
	}
	dirs = append(dirs, libraryDirs...)
	for _, lib := range libs {
		found := ""
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
				found = filepath.Join(d, lib)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%s needs %s, which is in none of %v", p, lib, dirs)
		}
		out = append(out, found)
	}
	return out, nil
}
