package db_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestRowLoopsCheckErr is a guard: database/sql reports an error that ends
// a `for rows.Next()` loop early (a busy or corrupt database, a cancelled
// context) only through rows.Err(), so a loop without it returns a silently
// truncated result. vet and staticcheck do not catch this. Every loop over
// x.Next() whose body calls x.Scan must be followed, in the same function,
// by a call of x.Err().
func TestRowLoopsCheckErr(t *testing.T) {
	root := svtest.RepoRoot(t)
	bad := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, pos := range uncheckedRowLoops(f) {
			bad[filepath.ToSlash(rel)] = append(bad[filepath.ToSlash(rel)], fset.Position(pos).String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range bad {
		t.Errorf("row loop without a rows.Err() check after it (an error ending the loop early would go unnoticed and the result be cut short):\n\t%s", strings.Join(at, "\n\t"))
	}
}

// uncheckedRowLoops returns the positions of `for x.Next()` loops (and
// `if x.Next()` single-row reads) whose body uses x without a call of
// x.Err() after them in the enclosing function, before x is assigned anew
// (a later loop's check on a reused variable does not count).
func uncheckedRowLoops(f *ast.File) []token.Pos {
	var out []token.Pos
	var check func(body *ast.BlockStmt)
	check = func(body *ast.BlockStmt) {
		ast.Inspect(body, func(n ast.Node) bool {
			var cond ast.Expr
			var loop ast.Node
			var inner *ast.BlockStmt
			switch n := n.(type) {
			case *ast.FuncLit:
				check(n.Body) // its own function: checked on its own
				return false
			case *ast.ForStmt:
				cond, loop, inner = n.Cond, n, n.Body
			case *ast.IfStmt:
				cond, loop, inner = n.Cond, n, n.Body
			default:
				return true
			}
			x := nextReceiver(cond)
			if x == "" || !uses(inner, x) {
				return true
			}
			if !callsBetween(body, x, "Err", loop.End(), nextAssign(body, x, loop.End())) {
				out = append(out, loop.Pos())
			}
			return true
		})
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
			check(fd.Body)
		}
	}
	return out
}

// nextReceiver returns x for a condition x.Next() (x an identifier).
func nextReceiver(cond ast.Expr) string {
	call, ok := cond.(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Next" {
		return ""
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	return id.Name
}

// uses reports whether n mentions the identifier x (x.Scan, scanRow(x)).
func uses(n ast.Node, x string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == x {
			found = true
		}
		return !found
	})
	return found
}

// nextAssign is the position of the first assignment to x after pos
// (token.NoPos: none).
func nextAssign(n ast.Node, x string, pos token.Pos) token.Pos {
	first := token.NoPos
	ast.Inspect(n, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || as.Pos() < pos {
			return true
		}
		for _, l := range as.Lhs {
			if id, ok := l.(*ast.Ident); ok && id.Name == x && (first == token.NoPos || as.Pos() < first) {
				first = as.Pos()
			}
		}
		return true
	})
	return first
}

// callsBetween reports whether n contains a call x.method(...) starting in
// [from, to) (to == token.NoPos: no upper bound).
func callsBetween(n ast.Node, x, method string, from, to token.Pos) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if found {
			return false
		}
		call, ok := n.(*ast.CallExpr)
		if !ok || call.Pos() < from || (to != token.NoPos && call.Pos() >= to) {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == method {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == x {
				found = true
			}
		}
		return true
	})
	return found
}
