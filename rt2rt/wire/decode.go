package wire

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync"
)

// Typed decoding works on the entries of one map at a time. In span mode
// (the fast path used by Serializer.Decode) an entry is the offset of its
// encoded value, decoded straight into the typed field, so a TOKEN frame
// costs no maps and no boxing. In map mode (FromMap, and the fallback for
// very wide maps) an entry holds an already decoded value.

// pair is one entry of a map being decoded. In span mode a plain key is
// kept as offsets into the payload, so filling the pooled arena writes no
// pointers (cheaper while the garbage collector runs).
type pair struct {
	key    string // map mode, or a span-mode key that had to be decoded
	v      any    // map mode
	pos    int32  // span mode: offset of the encoded value
	ks, ke int32  // span mode: offsets of the plain key bytes
	used   bool
}

type intKind uint8

const (
	notInt intKind = iota
	isInt64
	isUint64 // above math.MaxInt64
	isBig
)

// src reads encoded values at offsets of one payload.
type src interface {
	// payload returns the bytes being decoded and their string copy, if any.
	payload() ([]byte, string)
	strAt(pos int) (string, bool)
	intAt(pos int) (int64, uint64, intKind)
	boolAt(pos int) (bool, bool)
	nullAt(pos int) bool
	mapAt(pos int) bool
	strsAt(pos int) ([]string, bool)
	// valueAt decodes the generic value at pos; depth is the nesting of
	// the map that holds it.
	valueAt(pos, depth int) (any, error)
	// objectAt appends the entries of the map at pos to dst (a repeated key
	// replaces the earlier entry); ok is false when the value is not a map.
	objectAt(pos, depth int, dst []pair) (out []pair, ok bool, err error)
	// end checks what follows the top-level value.
	end() error
}

// maxSpanPairs bounds the entries of one map decoded in span mode; wider
// maps (never seen in typed messages) take the generic path, which keeps
// duplicate-key handling linear.
const maxSpanPairs = 64

var errTooWide = errors.New("wire: map too wide for span decoding")

// decodeCtx holds the scratch space of one Decode call; it is pooled.
type decodeCtx struct {
	jr    jsonReader
	mr    mpReader
	arena [96]pair
	used  int
	dirty bool // arena entries hold pointers (map mode or decoded keys)
	decs  [8]dec
	ndecs int
	err   error
}

var ctxPool = sync.Pool{New: func() any { return new(decodeCtx) }}

func getCtx() *decodeCtx { return ctxPool.Get().(*decodeCtx) }

func putCtx(c *decodeCtx) {
	if c.dirty || c.jr.keyed {
		clear(c.arena[:c.used])
	}
	c.dirty = false
	for i := range c.decs[:c.ndecs] {
		c.decs[i] = dec{}
	}
	c.used, c.ndecs, c.err = 0, 0, nil
	c.jr = jsonReader{}
	c.mr = mpReader{}
	ctxPool.Put(c)
}

func (c *decodeCtx) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *decodeCtx) newDec() *dec {
	if c.ndecs < len(c.decs) {
		d := &c.decs[c.ndecs]
		c.ndecs++
		d.ctx = c
		return d
	}
	return &dec{ctx: c}
}

// scratch returns an empty slice over the free part of the arena.
func (c *decodeCtx) scratch() []pair { return c.arena[c.used:c.used] }

// claim marks out as used when it lives in the arena.
func (c *decodeCtx) claim(s, out []pair) {
	if len(out) <= cap(s) {
		c.used += len(out)
	}
}

// spanRoot scans the top-level map at offset 0 of s.
func (c *decodeCtx) spanRoot(s src) (*dec, error) {
	sc := c.scratch()
	pairs, ok, err := s.objectAt(0, 1, sc)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	c.claim(sc, pairs)
	d := c.newDec()
	d.src, d.pairs, d.depth = s, pairs, 1
	d.b, d.backing = s.payload()
	return d, nil
}

// mapRoot wraps a decoded map.
func (c *decodeCtx) mapRoot(m map[string]any, depth int) *dec {
	d := c.newDec()
	d.m, d.depth = m, depth
	c.dirty = true
	sc := c.scratch()
	pairs := sc
	for k, v := range m {
		pairs = append(pairs, pair{key: k, v: v})
	}
	c.claim(sc, pairs)
	d.pairs = pairs
	return d
}

// dec moves the entries of one map into typed fields. Values of the wrong
// type are left unused and end up in Extra, so nothing is lost.
type dec struct {
	ctx     *decodeCtx
	src     src            // nil in map mode
	b       []byte         // span mode: the payload
	backing string         // span mode: its string copy, if any
	m       map[string]any // map mode: reused as Extra
	pairs   []pair
	depth   int
	absent  keyMask
	present keyMask
}

// lookup returns the last entry called name (the one a generic decoder keeps).
func (d *dec) lookup(name string) *pair {
	for i := len(d.pairs) - 1; i >= 0; i-- {
		p := &d.pairs[i]
		if p.ke != 0 {
			if string(d.b[p.ks:p.ke]) == name {
				return p
			}
		} else if p.key == name {
			return p
		}
	}
	return nil
}

// keyOf returns the key of an entry as a string.
func (d *dec) keyOf(p *pair) string {
	if p.ke != 0 {
		return keyString(d.b, d.backing, int(p.ks), int(p.ke))
	}
	return p.key
}

// find returns the entry for k and records whether it was present.
func (d *dec) find(k keyID) *pair {
	p := d.lookup(keyNames[k])
	if p == nil {
		d.absent |= 1 << k
	} else {
		d.present |= 1 << k
	}
	return p
}

func (d *dec) strOf(p *pair) (string, bool) {
	if d.src == nil {
		s, ok := p.v.(string)
		return s, ok
	}
	return d.src.strAt(int(p.pos))
}

func (d *dec) isNull(p *pair) bool {
	if d.src == nil {
		return p.v == nil
	}
	return d.src.nullAt(int(p.pos))
}

func (d *dec) isMap(p *pair) bool {
	if d.src == nil {
		_, ok := p.v.(map[string]any)
		return ok
	}
	return d.src.mapAt(int(p.pos))
}

func (d *dec) intOf(p *pair) (int64, uint64, intKind) {
	if d.src != nil {
		return d.src.intAt(int(p.pos))
	}
	switch x := p.v.(type) {
	case int64:
		return x, 0, isInt64
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), 0, isInt64
		}
		return 0, x, isUint64
	case *big.Int:
		return 0, 0, isBig
	}
	return 0, 0, notInt
}

func (d *dec) boolOf(p *pair) (bool, bool) {
	if d.src == nil {
		b, ok := p.v.(bool)
		return b, ok
	}
	return d.src.boolAt(int(p.pos))
}

func (d *dec) strsOf(p *pair) ([]string, bool) {
	if d.src != nil {
		return d.src.strsAt(int(p.pos))
	}
	l, ok := p.v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// valueOf returns the generic value of an entry.
func (d *dec) valueOf(p *pair) any {
	if d.src == nil {
		return p.v
	}
	v, err := d.src.valueAt(int(p.pos), d.depth)
	if err != nil {
		d.ctx.fail(err)
	}
	return v
}

// child returns a dec over the map held by entry p.
func (d *dec) child(p *pair) (*dec, bool) {
	if d.src == nil {
		m, ok := p.v.(map[string]any)
		if !ok {
			return nil, false
		}
		return d.ctx.mapRoot(m, d.depth+1), true
	}
	sc := d.ctx.scratch()
	pairs, ok, err := d.src.objectAt(int(p.pos), d.depth+1, sc)
	if errors.Is(err, errTooWide) {
		m, ok := d.valueOf(p).(map[string]any)
		if !ok {
			return nil, false
		}
		return d.ctx.mapRoot(m, d.depth+1), true
	}
	if err != nil {
		d.ctx.fail(err)
		return nil, false
	}
	if !ok {
		return nil, false
	}
	d.ctx.claim(sc, pairs)
	c := d.ctx.newDec()
	c.src, c.pairs, c.depth = d.src, pairs, d.depth+1
	c.b, c.backing = d.b, d.backing
	return c, true
}

func (d *dec) str(k keyID, dst *string) {
	if p := d.find(k); p != nil {
		if s, ok := d.strOf(p); ok {
			*dst = s
			p.used = true
		}
	}
}

// nullStr decodes a string that may be null (as ""); an empty string stays in Extra.
func (d *dec) nullStr(k keyID, dst *string) {
	if p := d.find(k); p != nil {
		if d.isNull(p) {
			p.used = true
		} else if s, ok := d.strOf(p); ok && s != "" {
			*dst = s
			p.used = true
		}
	}
}

// optStr decodes a key that is sent only when not empty; it is never marked absent.
func (d *dec) optStr(k keyID, dst *string) {
	if p := d.lookup(keyNames[k]); p != nil {
		d.present |= 1 << k
		if s, ok := d.strOf(p); ok && s != "" {
			*dst = s
			p.used = true
		}
	}
}

func (d *dec) intVal(k keyID, dst *int) {
	if p := d.find(k); p != nil {
		if i, _, kind := d.intOf(p); kind == isInt64 && int64(int(i)) == i {
			*dst = int(i)
			p.used = true
		}
	}
}

func (d *dec) uint(k keyID, dst *uint64) {
	if p := d.find(k); p != nil {
		switch i, u, kind := d.intOf(p); {
		case kind == isInt64 && i >= 0:
			*dst = uint64(i)
			p.used = true
		case kind == isUint64:
			*dst = u
			p.used = true
		}
	}
}

func (d *dec) bool(k keyID, dst *bool) {
	if p := d.find(k); p != nil {
		if b, ok := d.boolOf(p); ok {
			*dst = b
			p.used = true
		}
	}
}

// val takes any value, including null.
func (d *dec) val(k keyID, dst *any) {
	if p := d.find(k); p != nil {
		*dst = d.valueOf(p)
		p.used = true
	}
}

// nonNull takes any value except null, which stays in Extra.
func (d *dec) nonNull(k keyID, dst *any) {
	if p := d.find(k); p != nil && !d.isNull(p) {
		*dst = d.valueOf(p)
		p.used = true
	}
}

// mapVal takes a map value; other types stay in Extra.
func (d *dec) mapVal(k keyID, dst *map[string]any) {
	if p := d.find(k); p != nil && d.isMap(p) {
		*dst, _ = d.valueOf(p).(map[string]any)
		p.used = true
	}
}

// nullMap takes a map or null (as nil).
func (d *dec) nullMap(k keyID, dst *map[string]any) {
	if p := d.find(k); p != nil {
		if d.isNull(p) {
			p.used = true
		} else if d.isMap(p) {
			*dst, _ = d.valueOf(p).(map[string]any)
			p.used = true
		}
	}
}

func (d *dec) strs(k keyID, dst *[]string) {
	if p := d.find(k); p != nil {
		if l, ok := d.strsOf(p); ok {
			*dst = l
			p.used = true
		}
	}
}

// response decodes the map as a CalvinResponse: it needs an integer status;
// a missing data is nil and a missing success_list 200..206.
func (d *dec) response() (Response, bool) {
	p := d.lookup(keyNames[kStatus])
	if p == nil {
		return Response{}, false
	}
	st, _, kind := d.intOf(p)
	if kind != isInt64 || int64(int(st)) != st {
		return Response{}, false
	}
	p.used = true
	r := Response{Status: int(st)}
	if p := d.lookup(keyNames[kData]); p != nil {
		r.Data = d.valueOf(p)
		p.used = true
	}
	if p := d.lookup(keyNames[kSuccessList]); p != nil {
		if l, ok := intList(d.valueOf(p)); ok {
			r.SuccessList = l
			p.used = true
		}
	} else {
		r.SuccessList = DefaultSuccessList()
	}
	r.Extra = d.extra()
	return r, true
}

// extra collects the unused entries.
func (d *dec) extra() map[string]any {
	if d.m != nil {
		for i := range d.pairs {
			if d.pairs[i].used {
				delete(d.m, d.pairs[i].key)
			}
		}
		if len(d.m) == 0 {
			return nil
		}
		return d.m
	}
	var m map[string]any
	for i := range d.pairs {
		p := &d.pairs[i]
		if p.used {
			continue
		}
		k := d.keyOf(p)
		if d.lookup(k) != p {
			continue // shadowed by a later repeat of its key
		}
		if m == nil {
			m = make(map[string]any, len(d.pairs))
		}
		m[k] = d.valueOf(p)
	}
	return m
}

// decodeTyped builds the typed message for the map d.
func decodeTyped(d *dec) (Message, error) {
	var cmd string
	if p := d.lookup(keyNames[kCmd]); p != nil {
		cmd, _ = d.strOf(p)
	}
	msg := newMessage(cmd)
	msg.decode(d)
	if d.ctx.err != nil {
		return nil, d.ctx.err
	}
	return msg, nil
}

// decodeSpan decodes a payload through s (positioned on payload) in span
// mode, falling back to a generic decode for maps too wide for it.
func decodeSpan(c *decodeCtx, coder string, s src, generic func() (any, error)) (Message, error) {
	d, err := c.spanRoot(s)
	if errors.Is(err, errTooWide) {
		v, err := generic()
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, notAMap(coder, v)
		}
		return decodeTyped(c.mapRoot(m, 1))
	}
	if err == nil && d != nil {
		err = s.end()
	}
	if err != nil {
		return nil, err
	}
	if d == nil {
		v, err := generic()
		if err != nil {
			return nil, err
		}
		return nil, notAMap(coder, v)
	}
	return decodeTyped(d)
}

func notAMap(coder string, v any) error {
	return &DecodeError{Coder: coder, Reason: fmt.Sprintf("message is %T, not a map", v)}
}
