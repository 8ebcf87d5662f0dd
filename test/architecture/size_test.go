package architecture

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const (
	maxFileLines = 500
	maxFuncLines = 100
	// longBecause in a function's doc comment lets it pass maxFuncLines:
	// the comment must then say why it is better whole.
	longBecause = "long because"
)

// TestSizes keeps production files and functions to what a reader takes
// in at once. Tests, generated code and hack/ (a separate module) are
// left out.
func TestSizes(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "hack" || name == "bin" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		files++
		rel, _ := filepath.Rel(root, path)
		if n := fset.File(f.Pos()).LineCount(); n > maxFileLines {
			t.Errorf("%s has %d lines, over %d: split it by what its parts do", rel, n, maxFileLines)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			name, body, doc := funcOf(n)
			if body == nil {
				return true
			}
			lines := fset.Position(body.End()).Line - fset.Position(n.Pos()).Line + 1
			if lines > maxFuncLines && !strings.Contains(doc.Text(), longBecause) {
				t.Errorf("%s:%d: %s has %d lines, over %d: split it, or say why in its doc comment (\"it is %s ...\")",
					rel, fset.Position(n.Pos()).Line, name, lines, maxFuncLines, longBecause)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d production files: is the test running in its package directory?", files)
	}
}

func funcOf(n ast.Node) (name string, body *ast.BlockStmt, doc *ast.CommentGroup) {
	switch x := n.(type) {
	case *ast.FuncDecl:
		return x.Name.Name, x.Body, x.Doc
	case *ast.FuncLit:
		return "a function literal", x.Body, nil
	}
	return "", nil, nil
}
