// argocd-health: run an Argo CD custom health check (the Lua script of
// `resource.customizations.health.<group>_<kind>` in argocd-cm) against one
// object, the way Argo CD's application controller does, without Argo CD.
//
//	kubectl get s3connection NAME -o json | argocd-health health.lua
//	argocd-health [--use-open-libs] health.lua < object.{json,yaml}
//
// Prints {"status":"Healthy|Progressing|Degraded|Suspended|Missing|Unknown","message":"..."}
// and exits 0. Exits 1 with a message on stderr when the script fails to
// load or run (Argo CD would show Unknown with that error), when it returns
// something that is not a table, or a table without a status (Argo CD would
// then fall back to no health). Exit 2: usage.
//
// What is reproduced from Argo CD (util/lua in argoproj/argo-cd, v3):
//   - gopher-lua state with SkipOpenLibs; only the package, base and table
//     libraries are opened, plus a "safe" os library with only os.time and
//     os.date. Argo CD registers that safe library under the *table* module
//     name and preloads it as "os", so a custom script sees no global `os`
//     unless it does `local os = require("os")` - the same here.
//     --use-open-libs (argocd-cm `resource.customizations.useOpenLibs.<group>_<kind>: "true"`)
//     opens all standard libraries first, as Argo CD does then.
//   - the object is the global `obj`: a Lua table converted from the object
//     as the controller holds it (unstructured: JSON numbers become int64 or
//     float64, i.e. Lua numbers; arrays become sequences; null becomes nil).
//   - a 1 second execution deadline.
//   - the returned table is encoded with layeh.com/gopher-json and decoded
//     into {status, message}; a status outside Healthy, Progressing,
//     Degraded, Suspended, Missing, Unknown becomes
//     {"status":"Unknown","message":"Lua returned an invalid health status"}
//     (printed, exit 0, with a note on stderr).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

var validStatus = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: argocd-health [--use-open-libs] SCRIPT.lua < object.{json,yaml}")
	os.Exit(2)
}

func main() {
	openLibs := false
	var script string
	for _, a := range os.Args[1:] {
		switch {
		case a == "--use-open-libs":
			openLibs = true
		case a == "-h" || a == "--help":
			usage()
		case strings.HasPrefix(a, "-") && a != "-":
			usage()
		case script == "":
			script = a
		default:
			usage()
		}
	}
	if script == "" {
		usage()
	}
	src, err := os.ReadFile(script)
	if err != nil {
		fail("%v", err)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	obj, err := decodeObject(in)
	if err != nil {
		fail("%v", err)
	}
	hs, err := run(string(src), obj, openLibs)
	if err != nil {
		fail("%v", err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(hs); err != nil {
		fail("writing stdout: %v", err)
	}
}

// decodeObject reads one object as the controller would hold it: numbers are
// int64 when they are integers, float64 otherwise (as k8s unstructured does).
func decodeObject(in []byte) (map[string]any, error) {
	in = bytes.TrimSpace(in)
	if len(in) == 0 {
		return nil, errors.New("no object on stdin")
	}
	js, err := yaml.YAMLToJSON(in)
	if err != nil {
		return nil, fmt.Errorf("stdin is neither JSON nor YAML: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("stdin: %v", err)
	}
	m, ok := normalize(v).(map[string]any)
	if !ok {
		return nil, errors.New("stdin is not a JSON object")
	}
	return m, nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
		return x
	}
	return v
}

// toLua converts a decoded object to Lua values like Argo CD does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(toLua(l, e))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetH(lua.LString(k), toLua(l, e))
		}
		return t
	}
	return lua.LNil
}

// safeOs is gopher-lua's own os.time and os.date and nothing else of os.
func safeOs() map[string]lua.LGFunction {
	tmp := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer tmp.Close()
	tmp.Push(tmp.NewFunction(lua.OpenOs))
	tmp.Push(lua.LString(lua.OsLibName))
	tmp.Call(1, 1)
	mod := tmp.Get(-1).(*lua.LTable)
	funcs := map[string]lua.LGFunction{}
	for _, name := range []string{"time", "date"} {
		funcs[name] = mod.RawGetString(name).(*lua.LFunction).GFunction
	}
	return funcs
}

func run(script string, obj map[string]any, openLibs bool) (*healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	osFuncs := safeOs()
	libs := []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		// as in Argo CD: the safe os functions are registered under the
		// table module name (so there is no global `os`) ...
		{lua.OsLibName, func(l *lua.LState) int {
			l.Push(l.RegisterModule(lua.TabLibName, osFuncs))
			return 1
		}},
	}
	for _, lib := range libs {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, fmt.Errorf("opening %s: %v", lib.name, err)
		}
	}
	// ... and `require("os")` returns them.
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(l.SetFuncs(l.NewTable(), osFuncs))
		return 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))

	fn, err := l.LoadString(script)
	if err != nil {
		return nil, fmt.Errorf("loading the script: %v", err)
	}
	l.Push(fn)
	if err := l.PCall(0, lua.MultRet, nil); err != nil {
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
			apiErr.StackTrace = "" // Argo CD drops it too
			return nil, fmt.Errorf("running the script: %v", apiErr)
		}
		return nil, fmt.Errorf("running the script: %v", err)
	}
	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTNil:
		return nil, errors.New("the script returned nil (no status)")
	case lua.LTTable:
	default:
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	b, err := luajson.Encode(ret)
	if err != nil {
		return nil, fmt.Errorf("encoding the returned table: %v", err)
	}
	hs := &healthStatus{}
	if err := json.Unmarshal(b, hs); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Value == "array" {
			return nil, errors.New("the script returned an empty table (no status)")
		}
		return nil, fmt.Errorf("the returned table is not {status, message}: %v (%s)", err, b)
	}
	if hs.Status == "" {
		return nil, fmt.Errorf("the returned table has no status: %s", b)
	}
	if !validStatus[hs.Status] {
		fmt.Fprintf(os.Stderr, "argocd-health: note: %q is not a health status; Argo CD shows Unknown\n", hs.Status)
		return &healthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return hs, nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "argocd-health: "+format+"\n", args...)
	os.Exit(1)
}
