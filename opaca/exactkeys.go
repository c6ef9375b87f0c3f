package opaca

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// encoding/json matches field names case-insensitively, so
// DisallowUnknownFields lets {"connectback": true} through. The reference
// (Jackson) is case-sensitive and rejects it; checkExactKeys walks the
// document next to the Go type and rejects keys that are not spelled
// exactly like a field's JSON name.

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	fieldCache      sync.Map // reflect.Type → map[string]reflect.Type
)

func structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = sf.Type
	}
	fieldCache.Store(t, fields)
	return fields
}

func checkExactKeys(b []byte, t reflect.Type, depth int) error {
	b = trimWS(b)
	if len(b) == 0 || depth > maxScanDepth {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if b[0] != '{' {
			return nil
		}
		fields := structFields(t)
		return eachMember(b, func(raw []byte, esc bool, val []byte) error {
			key := decodeKey(raw, esc)
			ft, ok := fields[key]
			if !ok {
				return fmt.Errorf("unknown field %q", key)
			}
			return checkExactKeys(val, ft, depth+1)
		})
	case reflect.Map:
		if b[0] != '{' {
			return nil
		}
		return eachMember(b, func(_ []byte, _ bool, val []byte) error {
			return checkExactKeys(val, t.Elem(), depth+1)
		})
	case reflect.Slice, reflect.Array:
		if b[0] != '[' {
			return nil
		}
		return eachElem(b, func(_ int, val []byte) error {
			return checkExactKeys(val, t.Elem(), depth+1)
		})
	}
	return nil
}
