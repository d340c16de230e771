package resgo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNoInternalTypeInExportedAPI type-checks every importable package of
// the module and fails if an exported declaration (a function's or
// method's signature, a type's exported fields, methods or definition, a
// variable's or constant's type) mentions a type from an internal
// package: outside code could not name it, so the API would be unusable.
func TestNoInternalTypeInExportedAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds export data for the whole module")
	}
	pkgs := goList(t)
	exports := map[string]string{}
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(f)
	})
	checked := 0
	for _, p := range pkgs {
		if p.Standard || p.Module == nil || !p.Module.Main || p.Name == "main" || isInternal(p.ImportPath) {
			continue
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		pkg, err := (&types.Config{Importer: imp}).Check(p.ImportPath, fset, files, nil)
		if err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}
		checked++
		for _, bad := range internalMentions(pkg) {
			t.Errorf("%s: %s", p.ImportPath, bad)
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages", checked)
	}
}

// listedPackage is what the test reads of `go list -json`.
type listedPackage struct {
	ImportPath, Name, Dir, Export string
	Standard                      bool
	GoFiles                       []string
	Module                        *struct{ Main bool }
}

// goList lists the module's packages and all their dependencies with
// their export data, building what is missing.
func goList(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-export", "-deps", "-json=ImportPath,Name,Dir,Export,Standard,GoFiles,Module", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// isInternal reports whether an import path has an "internal" element.
func isInternal(path string) bool {
	return slices.Contains(strings.Split(path, "/"), "internal")
}

// internalMentions describes each exported declaration of pkg whose type
// reaches a type defined in an internal package.
func internalMentions(pkg *types.Package) []string {
	var found []string
	seen := map[types.Type]bool{}
	var walk func(what string, t types.Type)
	walk = func(what string, t types.Type) {
		if t == nil {
			return
		}
		switch t := t.(type) {
		case *types.Alias:
			walk(what, types.Unalias(t))
		case *types.Named:
			obj := t.Obj()
			if obj.Pkg() != nil && isInternal(obj.Pkg().Path()) {
				found = append(found, fmt.Sprintf("%s mentions %s.%s", what, obj.Pkg().Path(), obj.Name()))
				return
			}
			for i := range t.TypeArgs().Len() {
				walk(what, t.TypeArgs().At(i))
			}
			// A type of this package that is not exported cannot be
			// checked on its own, so look inside it here.
			if obj.Pkg() == pkg && !obj.Exported() && !seen[t] {
				seen[t] = true // a recursive type stops here
				walkNamed(what, t, walk)
			}
		case *types.Pointer:
			walk(what, t.Elem())
		case *types.Slice:
			walk(what, t.Elem())
		case *types.Array:
			walk(what, t.Elem())
		case *types.Map:
			walk(what, t.Key())
			walk(what, t.Elem())
		case *types.Chan:
			walk(what, t.Elem())
		case *types.Signature:
			for _, tup := range []*types.Tuple{t.Params(), t.Results()} {
				for i := range tup.Len() {
					walk(what, tup.At(i).Type())
				}
			}
		case *types.Struct:
			for i := range t.NumFields() {
				if f := t.Field(i); f.Exported() {
					walk(what+"."+f.Name(), f.Type())
				}
			}
		case *types.Interface:
			for i := range t.NumMethods() {
				if m := t.Method(i); m.Exported() {
					walk(what+"."+m.Name(), m.Type())
				}
			}
			for i := range t.NumEmbeddeds() {
				walk(what, t.EmbeddedType(i))
			}
		}
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		clear(seen)
		switch obj := obj.(type) {
		case *types.TypeName:
			if obj.IsAlias() {
				walk(name, obj.Type())
				continue
			}
			named, ok := obj.Type().(*types.Named)
			if !ok {
				continue
			}
			walkNamed(name, named, walk)
		default:
			walk(name, obj.Type())
		}
	}
	return found
}

// walkNamed walks a named type's definition and its exported methods.
func walkNamed(what string, t *types.Named, walk func(string, types.Type)) {
	walk(what, t.Underlying())
	for i := range t.NumMethods() {
		if m := t.Method(i); m.Exported() {
			walk(what+"."+m.Name(), m.Type())
		}
	}
}

// TestInternalMentionsFindsThem checks the walker on a made-up package
// that leaks an internal type in each way it looks for, and hides one
// where it must not be reported.
func TestInternalMentionsFindsThem(t *testing.T) {
	q := types.NewPackage("x/internal/q", "q")
	qt := types.NewNamed(types.NewTypeName(token.NoPos, q, "T", nil), types.NewStruct(nil, nil), nil)
	q.Scope().Insert(qt.Obj())
	q.MarkComplete()
	const src = `package p
import "x/internal/q"
func F(x int) *q.T { return nil }
type S struct { A []q.T; b q.T }
type I interface{ M(map[string]q.T) }
type A = q.T
type D q.T
type hidden struct{ Leak q.T; quiet q.T }
func G() hidden { return hidden{} }
func (S) Method(chan q.T) {}
func (S) quiet(q.T) {}
var V func() (int, *q.T)
func Fine(x int) string { return "" }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	imp := importerFunc(func(path string) (*types.Package, error) { return q, nil })
	pkg, err := (&types.Config{Importer: imp}).Check("x/p", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(internalMentions(pkg), "\n")
	for _, want := range []string{"F mentions", "S.A mentions", "I.M mentions", "A mentions", "G.Leak mentions", "S.Method mentions", "V mentions"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, bad := range []string{"Fine", "quiet", ".b "} {
		if strings.Contains(got, bad) {
			t.Errorf("reported %q, which is not exported API:\n%s", bad, got)
		}
	}
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }
