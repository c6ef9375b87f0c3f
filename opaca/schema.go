package opaca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A compiled JSON Schema (draft-07 subset) used for custom parameter
// types. Supported keywords: type, enum, const, properties, required,
// additionalProperties, patternProperties, propertyNames, minProperties,
// maxProperties, items (schema or tuple), additionalItems, minItems,
// maxItems, uniqueItems, contains, minLength, maxLength, pattern, minimum,
// maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, allOf, anyOf,
// oneOf, not, if/then/else and local $ref ("#", "#/definitions/…", any
// JSON pointer into the same document). Annotations (title, description,
// format, default, examples, $schema, $id) are ignored.

const (
	kNull = 1 << iota
	kBoolean
	kObject
	kArray
	kNumber
	kString
	kInteger
)

var typeBits = map[string]uint8{
	"null": kNull, "boolean": kBoolean, "object": kObject, "array": kArray,
	"number": kNumber, "string": kString, "integer": kInteger,
}

type schema struct {
	reject bool // the false schema
	ref    *schema
	types  uint8

	enum     []any
	hasConst bool
	constV   any

	props         map[string]*schema
	required      []string
	reqIndex      map[string]int
	addl          *schema
	patternProps  []patternSchema
	propertyNames *schema
	minProps      int
	maxProps      int

	items     *schema
	tuple     []*schema
	addlItems *schema
	contains  *schema
	minItems  int
	maxItems  int
	unique    bool

	minLen  int
	maxLen  int
	pattern *regexp.Regexp

	minimum, maximum, exclMin, exclMax, multipleOf *float64

	allOf, anyOf, oneOf []*schema
	not                 *schema
	ifS, thenS, elseS   *schema
}

type patternSchema struct {
	re *regexp.Regexp
	s  *schema
}

// schemaCompiler compiles one document; $ref targets are compiled on
// demand and cached by pointer, which also handles recursive schemas.
type schemaCompiler struct {
	root  any
	byPtr map[string]*schema
	err   error
}

func compileSchema(doc []byte) (*schema, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	c := &schemaCompiler{root: root, byPtr: map[string]*schema{}}
	s := c.compile(root, "#")
	if c.err != nil {
		return nil, c.err
	}
	return s, nil
}

func (c *schemaCompiler) fail(ptr, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("schema %s: %s", ptr, fmt.Sprintf(format, args...))
	}
}

func (c *schemaCompiler) compile(node any, ptr string) *schema {
	if s, ok := c.byPtr[ptr]; ok {
		return s
	}
	s := &schema{minItems: -1, maxItems: -1, minLen: -1, maxLen: -1, minProps: -1, maxProps: -1}
	c.byPtr[ptr] = s
	switch n := node.(type) {
	case bool:
		s.reject = !n
		return s
	case map[string]any:
		c.fill(s, n, ptr)
	default:
		c.fail(ptr, "not an object or boolean")
	}
	return s
}

func (c *schemaCompiler) sub(n map[string]any, key, ptr string) *schema {
	v, ok := n[key]
	if !ok {
		return nil
	}
	return c.compile(v, ptr+"/"+escapePointer(key))
}

func (c *schemaCompiler) list(n map[string]any, key, ptr string) []*schema {
	v, ok := n[key]
	if !ok {
		return nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		c.fail(ptr, "%s must be a non-empty array", key)
		return nil
	}
	out := make([]*schema, len(arr))
	for i, e := range arr {
		out[i] = c.compile(e, ptr+"/"+key+"/"+strconv.Itoa(i))
	}
	return out
}

func (c *schemaCompiler) fill(s *schema, n map[string]any, ptr string) {
	if ref, ok := n["$ref"]; ok {
		r, _ := ref.(string)
		target, ok := c.resolve(r)
		if !ok {
			c.fail(ptr, "unsupported $ref %q (only local JSON pointers)", r)
			return
		}
		s.ref = target
		return // draft-07: siblings of $ref are ignored
	}
	switch t := n["type"].(type) {
	case nil:
	case string:
		s.types = c.typeBit(t, ptr)
	case []any:
		for _, e := range t {
			name, _ := e.(string)
			s.types |= c.typeBit(name, ptr)
		}
	default:
		c.fail(ptr, "type must be a string or array")
	}
	if e, ok := n["enum"]; ok {
		arr, ok := e.([]any)
		if !ok {
			c.fail(ptr, "enum must be an array")
		}
		for _, v := range arr {
			s.enum = append(s.enum, normalizeJSON(v))
		}
		if s.enum == nil {
			s.enum = []any{}
		}
	}
	if v, ok := n["const"]; ok {
		s.hasConst, s.constV = true, normalizeJSON(v)
	}
	if p, ok := n["properties"].(map[string]any); ok {
		s.props = make(map[string]*schema, len(p))
		for k, v := range p {
			s.props[k] = c.compile(v, ptr+"/properties/"+escapePointer(k))
		}
	}
	if r, ok := n["required"].([]any); ok {
		s.reqIndex = map[string]int{}
		for _, e := range r {
			name, ok := e.(string)
			if !ok {
				c.fail(ptr, "required must list strings")
				continue
			}
			if _, dup := s.reqIndex[name]; !dup {
				s.reqIndex[name] = len(s.required)
				s.required = append(s.required, name)
			}
		}
	}
	s.addl = c.sub(n, "additionalProperties", ptr)
	if pp, ok := n["patternProperties"].(map[string]any); ok {
		keys := make([]string, 0, len(pp))
		for k := range pp {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			re, err := regexp.Compile(k)
			if err != nil {
				c.fail(ptr, "patternProperties %q: %v", k, err)
				continue
			}
			s.patternProps = append(s.patternProps, patternSchema{re, c.compile(pp[k], ptr+"/patternProperties/"+escapePointer(k))})
		}
	}
	s.propertyNames = c.sub(n, "propertyNames", ptr)
	s.minProps = c.count(n, "minProperties", ptr)
	s.maxProps = c.count(n, "maxProperties", ptr)
	switch it := n["items"].(type) {
	case nil:
	case []any:
		for i, e := range it {
			s.tuple = append(s.tuple, c.compile(e, ptr+"/items/"+strconv.Itoa(i)))
		}
		s.addlItems = c.sub(n, "additionalItems", ptr)
	default:
		s.items = c.compile(it, ptr+"/items")
	}
	s.contains = c.sub(n, "contains", ptr)
	s.minItems = c.count(n, "minItems", ptr)
	s.maxItems = c.count(n, "maxItems", ptr)
	s.unique, _ = n["uniqueItems"].(bool)
	s.minLen = c.count(n, "minLength", ptr)
	s.maxLen = c.count(n, "maxLength", ptr)
	if p, ok := n["pattern"].(string); ok {
		re, err := regexp.Compile(p)
		if err != nil {
			c.fail(ptr, "pattern: %v", err)
		}
		s.pattern = re
	}
	s.minimum = c.num(n, "minimum", ptr)
	s.maximum = c.num(n, "maximum", ptr)
	s.exclMin = c.num(n, "exclusiveMinimum", ptr)
	s.exclMax = c.num(n, "exclusiveMaximum", ptr)
	s.multipleOf = c.num(n, "multipleOf", ptr)
	if s.multipleOf != nil && *s.multipleOf <= 0 {
		c.fail(ptr, "multipleOf must be positive")
	}
	s.allOf = c.list(n, "allOf", ptr)
	s.anyOf = c.list(n, "anyOf", ptr)
	s.oneOf = c.list(n, "oneOf", ptr)
	s.not = c.sub(n, "not", ptr)
	s.ifS = c.sub(n, "if", ptr)
	s.thenS = c.sub(n, "then", ptr)
	s.elseS = c.sub(n, "else", ptr)
}

func (c *schemaCompiler) typeBit(name, ptr string) uint8 {
	b, ok := typeBits[name]
	if !ok {
		c.fail(ptr, "unknown type %q", name)
	}
	return b
}

func (c *schemaCompiler) count(n map[string]any, key, ptr string) int {
	v, ok := n[key]
	if !ok {
		return -1
	}
	num, ok := v.(json.Number)
	i, err := num.Int64()
	if !ok || err != nil || i < 0 {
		c.fail(ptr, "%s must be a non-negative integer", key)
		return -1
	}
	return int(min(i, math.MaxInt32))
}

func (c *schemaCompiler) num(n map[string]any, key, ptr string) *float64 {
	v, ok := n[key]
	if !ok {
		return nil
	}
	num, ok := v.(json.Number)
	f, err := num.Float64()
	if !ok || err != nil {
		c.fail(ptr, "%s must be a number", key)
		return nil
	}
	return &f
}

// resolve compiles the target of a local reference.
func (c *schemaCompiler) resolve(ref string) (*schema, bool) {
	if ref != "#" && !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	node := c.root
	if ref != "#" {
		for _, tok := range strings.Split(ref[2:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch n := node.(type) {
			case map[string]any:
				v, ok := n[tok]
				if !ok {
					return nil, false
				}
				node = v
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(n) {
					return nil, false
				}
				node = n[i]
			default:
				return nil, false
			}
		}
	}
	return c.compile(node, ref), true
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// normalizeJSON turns json.Number into float64 so that enum and const
// compare numbers by value (1 == 1.0).
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeJSON(x[k])
		}
	}
	return v
}

// violation is a schema failure with the JSON path to the offending value.
type violation struct {
	path []string // innermost last, built while unwinding
	msg  string
}

func (v *violation) Error() string { return v.msg }

func (v *violation) at(seg string) *violation {
	v.path = append(v.path, seg)
	return v
}

func (v *violation) pathString() string {
	var sb strings.Builder
	for i := len(v.path) - 1; i >= 0; i-- {
		seg := v.path[i]
		if strings.HasPrefix(seg, "[") || sb.Len() == 0 {
			sb.WriteString(seg)
		} else {
			sb.WriteString("." + seg)
		}
	}
	return sb.String()
}

func violationf(format string, args ...any) *violation {
	return &violation{msg: fmt.Sprintf(format, args...)}
}

func (s *schema) validate(b []byte, depth int) *violation {
	for s.ref != nil {
		s = s.ref
		depth++
		if depth > maxScanDepth {
			return violationf("schema recursion too deep")
		}
	}
	if s.reject {
		return violationf("no value allowed here")
	}
	if len(b) == 0 {
		return violationf("missing value")
	}
	if s.types != 0 && !s.typeMatches(b) {
		return violationf("expected %s, got %s", s.typeNames(), kindName(b))
	}
	if s.enum != nil || s.hasConst {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return violationf("malformed value")
		}
		if s.hasConst && !reflect.DeepEqual(v, s.constV) {
			return violationf("value must be the schema's const")
		}
		if s.enum != nil && !containsValue(s.enum, v) {
			return violationf("value is not one of the enumerated values")
		}
	}
	var vio *violation
	switch b[0] {
	case '"':
		vio = s.validateString(b)
	case '{':
		vio = s.validateObject(b, depth)
	case '[':
		vio = s.validateArray(b, depth)
	case 't', 'f', 'n':
	default:
		vio = s.validateNumber(b)
	}
	if vio != nil {
		return vio
	}
	return s.validateCombinators(b, depth)
}

func (s *schema) typeMatches(b []byte) bool {
	switch b[0] {
	case '"':
		return s.types&kString != 0
	case '{':
		return s.types&kObject != 0
	case '[':
		return s.types&kArray != 0
	case 't', 'f':
		return s.types&kBoolean != 0
	case 'n':
		return s.types&kNull != 0
	}
	if s.types&kNumber != 0 {
		return true
	}
	if s.types&kInteger == 0 {
		return false
	}
	// draft-07: an integer is any number with a zero fractional part.
	if _, plain, err := scanNumber(b, 0); err == nil && plain {
		return true
	}
	f, ok := numberValue(b)
	return ok && !math.IsInf(f, 0) && f == math.Trunc(f)
}

func (s *schema) typeNames() string {
	var names []string
	for _, n := range []string{"null", "boolean", "object", "array", "number", "string", "integer"} {
		if s.types&typeBits[n] != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, " or ")
}

func containsValue(list []any, v any) bool {
	for _, e := range list {
		if reflect.DeepEqual(e, v) {
			return true
		}
	}
	return false
}

func (s *schema) validateString(b []byte) *violation {
	if s.minLen < 0 && s.maxLen < 0 && s.pattern == nil {
		return nil
	}
	str := decodeKey(b[1:len(b)-1], bytes.IndexByte(b, '\\') >= 0)
	n := utf8.RuneCountInString(str)
	if s.minLen >= 0 && n < s.minLen {
		return violationf("string shorter than %d characters", s.minLen)
	}
	if s.maxLen >= 0 && n > s.maxLen {
		return violationf("string longer than %d characters", s.maxLen)
	}
	if s.pattern != nil && !s.pattern.MatchString(str) {
		return violationf("string does not match pattern %q", s.pattern.String())
	}
	return nil
}

func (s *schema) validateNumber(b []byte) *violation {
	if s.minimum == nil && s.maximum == nil && s.exclMin == nil && s.exclMax == nil && s.multipleOf == nil {
		return nil
	}
	f, ok := numberValue(b)
	if !ok {
		return violationf("malformed number")
	}
	switch {
	case s.minimum != nil && f < *s.minimum:
		return violationf("number below minimum %v", *s.minimum)
	case s.maximum != nil && f > *s.maximum:
		return violationf("number above maximum %v", *s.maximum)
	case s.exclMin != nil && f <= *s.exclMin:
		return violationf("number not above exclusive minimum %v", *s.exclMin)
	case s.exclMax != nil && f >= *s.exclMax:
		return violationf("number not below exclusive maximum %v", *s.exclMax)
	}
	if s.multipleOf != nil {
		q := f / *s.multipleOf
		if math.Abs(q-math.Round(q)) > 1e-9*math.Max(1, math.Abs(q)) {
			return violationf("number is not a multiple of %v", *s.multipleOf)
		}
	}
	return nil
}

func (s *schema) validateObject(b []byte, depth int) *violation {
	if s.props == nil && s.required == nil && s.addl == nil && s.patternProps == nil &&
		s.propertyNames == nil && s.minProps < 0 && s.maxProps < 0 {
		return nil
	}
	var seenMask uint64
	var seenSlice []bool
	if len(s.required) > 64 {
		seenSlice = make([]bool, len(s.required))
	}
	count := 0
	var vio *violation
	err := eachMember(b, func(rawKey []byte, esc bool, val []byte) error {
		count++
		var key string
		if esc {
			key = decodeKey(rawKey, true)
		}
		lookup := func() string {
			if esc {
				return key
			}
			return string(rawKey)
		}
		if s.reqIndex != nil {
			var idx int
			var ok bool
			if esc {
				idx, ok = s.reqIndex[key]
			} else {
				idx, ok = s.reqIndex[string(rawKey)]
			}
			if ok {
				if seenSlice != nil {
					seenSlice[idx] = true
				} else {
					seenMask |= 1 << uint(idx)
				}
			}
		}
		if s.propertyNames != nil {
			kb, _ := json.Marshal(lookup())
			if v := s.propertyNames.validate(kb, depth+1); v != nil {
				vio = v.at(lookup())
				return v
			}
		}
		matched := false
		var ps *schema
		if esc {
			ps = s.props[key]
		} else {
			ps = s.props[string(rawKey)]
		}
		if ps != nil {
			matched = true
			if v := ps.validate(val, depth+1); v != nil {
				vio = v.at(lookup())
				return v
			}
		}
		for _, pp := range s.patternProps {
			if pp.re.MatchString(lookup()) {
				matched = true
				if v := pp.s.validate(val, depth+1); v != nil {
					vio = v.at(lookup())
					return v
				}
			}
		}
		if !matched && s.addl != nil {
			if v := s.addl.validate(val, depth+1); v != nil {
				if s.addl.reject {
					v.msg = "property not allowed"
				}
				vio = v.at(lookup())
				return v
			}
		}
		return nil
	})
	if vio != nil {
		return vio
	}
	if err != nil {
		return violationf("malformed object")
	}
	for i, name := range s.required {
		present := false
		if seenSlice != nil {
			present = seenSlice[i]
		} else {
			present = seenMask&(1<<uint(i)) != 0
		}
		if !present {
			return violationf("missing required property %q", name)
		}
	}
	if s.minProps >= 0 && count < s.minProps {
		return violationf("fewer than %d properties", s.minProps)
	}
	if s.maxProps >= 0 && count > s.maxProps {
		return violationf("more than %d properties", s.maxProps)
	}
	return nil
}

func (s *schema) validateArray(b []byte, depth int) *violation {
	if s.items == nil && s.tuple == nil && s.contains == nil && s.minItems < 0 && s.maxItems < 0 && !s.unique {
		return nil
	}
	var vio *violation
	var elems []any
	n, containsHit := 0, false
	err := eachElem(b, func(i int, val []byte) error {
		n++
		var es *schema
		switch {
		case s.tuple != nil && i < len(s.tuple):
			es = s.tuple[i]
		case s.tuple != nil:
			es = s.addlItems
		default:
			es = s.items
		}
		if es != nil {
			if v := es.validate(val, depth+1); v != nil {
				vio = v.at("[" + strconv.Itoa(i) + "]")
				return v
			}
		}
		if s.contains != nil && !containsHit && s.contains.validate(val, depth+1) == nil {
			containsHit = true
		}
		if s.unique {
			var v any
			_ = json.Unmarshal(val, &v)
			if containsValue(elems, v) {
				vio = violationf("array items are not unique").at("[" + strconv.Itoa(i) + "]")
				return vio
			}
			elems = append(elems, v)
		}
		return nil
	})
	if vio != nil {
		return vio
	}
	if err != nil {
		return violationf("malformed array")
	}
	switch {
	case s.minItems >= 0 && n < s.minItems:
		return violationf("fewer than %d items", s.minItems)
	case s.maxItems >= 0 && n > s.maxItems:
		return violationf("more than %d items", s.maxItems)
	case s.contains != nil && !containsHit:
		return violationf("no item matches the contains schema")
	}
	return nil
}

func (s *schema) validateCombinators(b []byte, depth int) *violation {
	for _, sub := range s.allOf {
		if v := sub.validate(b, depth+1); v != nil {
			return v
		}
	}
	if s.anyOf != nil {
		ok := false
		for _, sub := range s.anyOf {
			if sub.validate(b, depth+1) == nil {
				ok = true
				break
			}
		}
		if !ok {
			return violationf("value matches none of anyOf")
		}
	}
	if s.oneOf != nil {
		n := 0
		for _, sub := range s.oneOf {
			if sub.validate(b, depth+1) == nil {
				n++
			}
		}
		if n != 1 {
			return violationf("value matches %d of oneOf, want exactly 1", n)
		}
	}
	if s.not != nil && s.not.validate(b, depth+1) == nil {
		return violationf("value must not match the not schema")
	}
	if s.ifS != nil {
		if s.ifS.validate(b, depth+1) == nil {
			if s.thenS != nil {
				return s.thenS.validate(b, depth+1)
			}
		} else if s.elseS != nil {
			return s.elseS.validate(b, depth+1)
		}
	}
	return nil
}
