package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/meshkit/meshkit/opaca"
)

// AddFunc adds an action implemented by a plain Go function. Its
// parameters are derived from the fields of the struct A (spec §15.4):
// the JSON name of each exported field is the parameter name; ints map to
// integer, floats to number, string, bool, slices to array with items,
// maps and structs to object, json.RawMessage and interfaces to object;
// pointer fields are optional. Tags refine a field:
//
//	opaca:"Car"            custom type name (from the image definitions)
//	default:"3.14"         JSON default value; the parameter becomes optional
//	opaca:",optional"      optional without default
//
// The result type R gives the result declaration; struct{} means no result
// (answered null). The *Invocation is available through InvocationFrom.
func AddFunc[A, R any](a *Agent, name string, fn func(ctx context.Context, args A) (R, error), opts ...ActionOption) error {
	if fn == nil {
		return fmt.Errorf("container: action %q: nil function", name)
	}
	params, err := ParamsOf[A]()
	if err != nil {
		return fmt.Errorf("container: action %q: %w", name, err)
	}
	decl := make([]ActionOption, 0, len(params)+len(opts)+1)
	for pname, p := range params {
		decl = append(decl, Param(pname, p))
	}
	if rt := reflect.TypeFor[R](); !(rt.Kind() == reflect.Struct && rt.NumField() == 0) {
		p, err := parameterOf(rt, "")
		if err != nil {
			return fmt.Errorf("container: action %q: result: %w", name, err)
		}
		decl = append(decl, Result(p))
	}
	decl = append(decl, opts...)
	return a.AddAction(name, func(ctx context.Context, inv *Invocation) (any, error) {
		var args A
		if err := inv.Bind(&args); err != nil {
			return nil, err
		}
		r, err := fn(ctx, args)
		if err != nil {
			return nil, err
		}
		if _, none := any(r).(struct{}); none {
			return nil, nil
		}
		return r, nil
	}, decl...)
}

// ParamsOf derives parameter declarations from the fields of struct A (see
// AddFunc).
func ParamsOf[A any]() (map[string]opaca.Parameter, error) {
	t := reflect.TypeFor[A]()
	out := map[string]opaca.Parameter{}
	if t.Kind() == reflect.Struct && t.NumField() == 0 {
		return out, nil
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("arguments must be a struct, got %s", t)
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		typeName, flags, _ := strings.Cut(f.Tag.Get("opaca"), ",")
		p, err := parameterOf(f.Type, typeName)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if flags == "optional" {
			p = p.Optional()
		}
		if def, ok := f.Tag.Lookup("default"); ok {
			if !json.Valid([]byte(def)) {
				return nil, fmt.Errorf("field %s: default %q is not JSON", f.Name, def)
			}
			p = p.Optional()
			p.DefaultValue = json.RawMessage(def)
		}
		out[name] = p
	}
	return out, nil
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// parameterOf maps a Go type to a parameter declaration; custom overrides
// the type name at the top level.
func parameterOf(t reflect.Type, custom string) (opaca.Parameter, error) {
	optional := false
	for t.Kind() == reflect.Pointer {
		optional = true
		t = t.Elem()
	}
	var p opaca.Parameter
	if custom != "" {
		p = opaca.NewParameter(custom)
	} else {
		typ, items, err := typeOf(t)
		if err != nil {
			return p, err
		}
		p = opaca.NewParameter(typ)
		p.Items = items
	}
	if optional {
		p = p.Optional()
	}
	return p, nil
}

func typeOf(t reflect.Type) (string, *opaca.ArrayItems, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return opaca.TypeObject, nil, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return opaca.TypeInteger, nil, nil
	case reflect.Float32, reflect.Float64:
		return opaca.TypeNumber, nil, nil
	case reflect.String:
		return opaca.TypeString, nil, nil
	case reflect.Bool:
		return opaca.TypeBoolean, nil, nil
	case reflect.Slice, reflect.Array:
		et, eitems, err := typeOf(t.Elem())
		if err != nil {
			return "", nil, err
		}
		return opaca.TypeArray, &opaca.ArrayItems{Type: et, Items: eitems}, nil
	case reflect.Map, reflect.Struct, reflect.Interface:
		return opaca.TypeObject, nil, nil
	}
	return "", nil, errors.New("unsupported Go type " + t.String())
}
