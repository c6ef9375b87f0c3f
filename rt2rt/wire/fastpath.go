package wire

import "unsafe"

// Fast path for the hot frames of a link: a TUNNEL_DATA whose value is a
// TOKEN or TOKEN_REPLY, in the shape this package (and Calvin) writes. It
// decodes in one pass, with no pair table, and allocates the TunnelData and
// its sub-message together. Anything it does not expect (an unknown or
// repeated key, a missing key, a value of another type, an escaped JSON
// string, a signed msgpack integer) makes it give up, and the general
// decoder runs instead, so the result never depends on which path ran
// (FuzzFastPathMatches checks that).

// fastSrc is the coder-specific part of the fast path: a concrete type
// rather than an interface, so that it stays on the caller's stack.
type fastSrc struct {
	mp bool
	m  fastMP
	j  fastJSON
}

// The fast path reads strings as views of the payload (no copy) and, once
// the frame is known to be one it takes, copies all of them into one
// allocation (own); strings inside the token's data are copied as the
// general reader does. Nothing returned shares memory with the payload.

func newFastMP(payload []byte) fastSrc {
	return fastSrc{mp: true, m: fastMP{r: mpReader{b: payload}}}
}

func newFastJSON(payload []byte) fastSrc {
	return fastSrc{j: fastJSON{r: jsonReader{b: payload}}}
}

// view returns b as a string without copying; the caller must not let it
// outlive the payload unless own copies it.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// own replaces the views in ss (at most 8) by copies that share one
// allocation. Well-known values are interned instead.
func own(ss ...*string) {
	var known [8]bool
	n := 0
	for i, p := range ss {
		if c, ok := knownValue(*p); ok {
			*p, known[i] = c, true
			continue
		}
		n += len(*p)
	}
	if n == 0 {
		return
	}
	buf := make([]byte, n)
	off := 0
	for i, p := range ss {
		if known[i] {
			continue
		}
		l := copy(buf[off:], *p)
		// buf is never written again: strings may share it.
		*p = unsafe.String(&buf[off], l)
		off += l
	}
}

// knownValue returns the constant equal to s, for the values token frames
// repeat.
func knownValue(s string) (string, bool) {
	switch s {
	case "":
		return "", true
	case TokenTypeToken:
		return TokenTypeToken, true
	case TokenTypeException:
		return TokenTypeException, true
	case TokenTypeEOS:
		return TokenTypeEOS, true
	case TokenACK:
		return TokenACK, true
	case TokenNACK:
		return TokenNACK, true
	case TokenABORT:
		return TokenABORT, true
	}
	return "", false
}

// enterMap opens the map at the current position.
func (s *fastSrc) enterMap() bool {
	if s.mp {
		return s.m.enterMap()
	}
	return s.j.enterMap()
}

// nextKey returns the next key of the innermost open map, or done at its
// end (which closes it).
func (s *fastSrc) nextKey() (key []byte, done, ok bool) {
	if s.mp {
		return s.m.nextKey()
	}
	return s.j.nextKey()
}

func (s *fastSrc) str() (string, bool) {
	if s.mp {
		return s.m.str()
	}
	return s.j.str()
}

func (s *fastSrc) uint() (uint64, bool) {
	if s.mp {
		return s.m.uint()
	}
	return s.j.uint()
}

// value decodes a generic value held by a map at nesting depth.
func (s *fastSrc) value(depth int) (any, bool) {
	if s.mp {
		return s.m.value(depth)
	}
	return s.j.value(depth)
}

// end checks what follows the top-level map.
func (s *fastSrc) end() bool {
	if s.mp {
		return s.m.end()
	}
	return s.j.end()
}

// tunnelDataToken and tunnelDataTokenReply put a frame's two structs in one
// allocation.
type tunnelDataToken struct {
	td  TunnelData
	sub Token
}

type tunnelDataTokenReply struct {
	td  TunnelData
	sub TokenReply
}

// fastSub is the decoded value map before its type is known.
type fastSub struct {
	cmd, portID, peerPortID, value string
	seq                            uint64
	tokType                        string
	tokData                        any
	seen                           keyMask
}

const (
	fastEnvKeys   = 1<<kCmd | 1<<kFrom | 1<<kTo | 1<<kTunnelID | 1<<kValue
	fastTokenKeys = 1<<kCmd | 1<<kPortID | 1<<kPeerPortID | 1<<kSequenceNbr | 1<<kToken
	fastReplyKeys = 1<<kCmd | 1<<kPortID | 1<<kPeerPortID | 1<<kSequenceNbr | 1<<kValue
)

// fastTunnelData decodes s as a token frame, or reports false.
func fastTunnelData(s *fastSrc) (Message, bool) {
	if !s.enterMap() {
		return nil, false
	}
	var env Envelope
	var tunnelID string
	var sub fastSub
	var seen keyMask
	for {
		key, done, ok := s.nextKey()
		if !ok {
			return nil, false
		}
		if done {
			break
		}
		var k keyID
		switch string(key) {
		case "cmd":
			k = kCmd
			c, ok := s.str()
			if !ok || c != CmdTunnelData {
				return nil, false
			}
			env.Cmd = CmdTunnelData
		case "from_rt_uuid":
			k = kFrom
			if env.From, ok = s.str(); !ok {
				return nil, false
			}
		case "to_rt_uuid":
			k = kTo
			if env.To, ok = s.str(); !ok {
				return nil, false
			}
		case "msg_uuid":
			k = kMsgUUID
			// An empty msg_uuid stays in Extra on the general path.
			if env.MsgUUID, ok = s.str(); !ok || env.MsgUUID == "" {
				return nil, false
			}
		case "tunnel_id":
			k = kTunnelID
			if tunnelID, ok = s.str(); !ok {
				return nil, false
			}
		case "value":
			k = kValue
			if !fastSubMessage(s, &sub) {
				return nil, false
			}
		default:
			return nil, false
		}
		if seen.has(k) {
			return nil, false
		}
		seen |= 1 << k
	}
	if seen&fastEnvKeys != fastEnvKeys || !s.end() {
		return nil, false
	}
	if (sub.cmd != SubToken || sub.seen != fastTokenKeys) && (sub.cmd != SubTokenReply || sub.seen != fastReplyKeys) {
		return nil, false
	}
	own(&env.From, &env.To, &env.MsgUUID, &tunnelID, &sub.portID, &sub.peerPortID, &sub.value, &sub.tokType)
	env.present = seen
	switch {
	case sub.cmd == SubToken:
		a := &tunnelDataToken{}
		a.td.Envelope, a.td.TunnelID = env, tunnelID
		a.sub = Token{
			SubEnvelope: SubEnvelope{Cmd: SubToken, present: sub.seen},
			PortID:      sub.portID, PeerPortID: sub.peerPortID, SequenceNbr: sub.seq,
			Token: TokenPayload{Type: sub.tokType, Data: sub.tokData},
		}
		a.td.Value = &a.sub
		return &a.td, true
	case sub.cmd == SubTokenReply:
		a := &tunnelDataTokenReply{}
		a.td.Envelope, a.td.TunnelID = env, tunnelID
		a.sub = TokenReply{
			SubEnvelope: SubEnvelope{Cmd: SubTokenReply, present: sub.seen},
			PortID:      sub.portID, PeerPortID: sub.peerPortID, SequenceNbr: sub.seq,
			Value: sub.value,
		}
		a.td.Value = &a.sub
		return &a.td, true
	}
	return nil, false
}

// fastSubMessage reads the value map of a token frame (depth 2).
func fastSubMessage(s *fastSrc, sub *fastSub) bool {
	if !s.enterMap() {
		return false
	}
	for {
		key, done, ok := s.nextKey()
		if !ok {
			return false
		}
		if done {
			return true
		}
		var k keyID
		switch string(key) {
		case "cmd":
			k = kCmd
			sub.cmd, ok = s.str()
		case "port_id":
			k = kPortID
			sub.portID, ok = s.str()
		case "peer_port_id":
			k = kPeerPortID
			sub.peerPortID, ok = s.str()
		case "sequencenbr":
			k = kSequenceNbr
			sub.seq, ok = s.uint()
		case "value":
			k = kValue
			sub.value, ok = s.str()
		case "token":
			k = kToken
			ok = fastTokenPayload(s, sub)
		default:
			return false
		}
		if !ok || sub.seen.has(k) {
			return false
		}
		sub.seen |= 1 << k
	}
}

// fastTokenPayload reads {"type": ..., "data": ...} (depth 3), both keys
// required.
func fastTokenPayload(s *fastSrc, sub *fastSub) bool {
	if !s.enterMap() {
		return false
	}
	var seen keyMask
	for {
		key, done, ok := s.nextKey()
		if !ok {
			return false
		}
		if done {
			return seen == 1<<kType|1<<kData
		}
		var k keyID
		switch string(key) {
		case "type":
			k = kType
			sub.tokType, ok = s.str()
		case "data":
			k = kData
			sub.tokData, ok = s.value(3)
		default:
			return false
		}
		if !ok || seen.has(k) {
			return false
		}
		seen |= 1 << k
	}
}

// ---- msgpack ----

type fastMP struct {
	r    mpReader
	left [4]int // entries left in each open map
	lvl  int
}

func (f *fastMP) enterMap() bool {
	r := &f.r
	if r.i >= len(r.b) || f.lvl+1 >= len(f.left) {
		return false
	}
	n, ok, err := r.mapHeader()
	if !ok || err != nil {
		return false
	}
	f.lvl++
	f.left[f.lvl] = n
	return true
}

func (f *fastMP) nextKey() ([]byte, bool, bool) {
	if f.left[f.lvl] == 0 {
		f.lvl--
		return nil, true, true
	}
	f.left[f.lvl]--
	r := &f.r
	if r.i >= len(r.b) {
		return nil, false, false
	}
	c := r.b[r.i]
	if c < 0xa0 || c > 0xbf { // keys of token frames are short fixstr
		return nil, false, false
	}
	n := int(c & 0x1f)
	if len(r.b)-r.i-1 < n {
		return nil, false, false
	}
	key := r.b[r.i+1 : r.i+1+n]
	r.i += 1 + n
	return key, false, true
}

func (f *fastMP) str() (string, bool) {
	r := &f.r
	if r.i >= len(r.b) || !isMpStr(r.b[r.i]) {
		return "", false
	}
	a, b, err := r.strBounds()
	if err != nil {
		return "", false
	}
	return view(r.b[a:b]), true
}

func (f *fastMP) uint() (uint64, bool) {
	r := &f.r
	if r.i >= len(r.b) {
		return 0, false
	}
	c := r.b[r.i]
	if c <= 0x7f {
		r.i++
		return uint64(c), true
	}
	var n int
	switch c {
	case 0xcc:
		n = 1
	case 0xcd:
		n = 2
	case 0xce:
		n = 4
	case 0xcf:
		n = 8
	default:
		return 0, false // signed families: the general path
	}
	if len(r.b)-r.i-1 < n {
		return 0, false
	}
	var u uint64
	for _, x := range r.b[r.i+1 : r.i+1+n] {
		u = u<<8 | uint64(x)
	}
	r.i += 1 + n
	return u, true
}

func (f *fastMP) value(depth int) (any, bool) {
	if f.r.i >= len(f.r.b) {
		return nil, false
	}
	c := f.r.b[f.r.i]
	if c <= 0x7f { // the usual small int, without the general reader
		f.r.i++
		return int64(c), true
	}
	v, err := f.r.valueAt(f.r.i, depth)
	return v, err == nil
}

// end: msgpack ignores what follows the first object.
func (f *fastMP) end() bool { return true }

// ---- JSON ----

type fastJSON struct {
	r     jsonReader
	first [4]bool // no entry read yet in each open map
	lvl   int
}

func (f *fastJSON) enterMap() bool {
	r := &f.r
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != '{' || f.lvl+1 >= len(f.first) {
		return false
	}
	r.i++
	f.lvl++
	f.first[f.lvl] = true
	return true
}

func (f *fastJSON) nextKey() ([]byte, bool, bool) {
	r := &f.r
	r.ws()
	if r.i >= len(r.b) {
		return nil, false, false
	}
	if r.b[r.i] == '}' {
		r.i++
		f.lvl--
		return nil, true, true
	}
	if !f.first[f.lvl] {
		if r.b[r.i] != ',' {
			return nil, false, false
		}
		r.i++
		r.ws()
		if r.i >= len(r.b) {
			return nil, false, false
		}
	}
	f.first[f.lvl] = false
	if r.b[r.i] != '"' {
		return nil, false, false
	}
	j, ok := f.plainEnd()
	if !ok {
		return nil, false, false
	}
	key := r.b[r.i+1 : j]
	r.i = j + 1
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != ':' {
		return nil, false, false
	}
	r.i++
	r.ws()
	return key, false, true
}

// plainEnd returns the offset of the closing quote of the string whose
// opening quote is at r.i, if the string has no escape.
func (f *fastJSON) plainEnd() (int, bool) {
	r := &f.r
	q := quoteOrBackslash(r.b[r.i+1:])
	if q < 0 || r.b[r.i+1+q] != '"' {
		return 0, false
	}
	return r.i + 1 + q, true
}

func (f *fastJSON) str() (string, bool) {
	r := &f.r
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return "", false
	}
	j, ok := f.plainEnd() // escaped strings take the general path
	if !ok {
		return "", false
	}
	s := view(r.b[r.i+1 : j])
	r.i = j + 1
	return s, true
}

func (f *fastJSON) uint() (uint64, bool) {
	r := &f.r
	start := r.i
	var u uint64
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		u = u*10 + uint64(r.b[r.i]-'0')
		r.i++
	}
	// At most 18 digits cannot overflow; fractions, exponents and signs
	// take the general path.
	if n := r.i - start; n == 0 || n > 18 {
		return 0, false
	}
	if r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		return 0, false
	}
	return u, true
}

func (f *fastJSON) value(depth int) (any, bool) {
	v, err := f.r.valueAt(f.r.i, depth)
	return v, err == nil
}

func (f *fastJSON) end() bool { return f.r.end() == nil }

// ---- encoding ----

// tokenFrame writes a TUNNEL_DATA carrying a TOKEN or TOKEN_REPLY built in
// Go (no Extra, nothing marked absent) in one pass, byte for byte as the
// general encoder does (same key order, see wireFields). It reports false,
// having written nothing, for any other message.
func (w *writer) tokenFrame(m *TunnelData) bool {
	if m.Extra != nil || m.absent != 0 {
		return false
	}
	var tok *Token
	var rep *TokenReply
	var sub *SubEnvelope
	switch v := m.Value.(type) {
	case *Token:
		if v == nil || v.Token.Extra != nil || v.Token.absent != 0 {
			return false
		}
		tok, sub = v, &v.SubEnvelope
	case *TokenReply:
		if v == nil {
			return false
		}
		rep, sub = v, &v.SubEnvelope
	default:
		return false
	}
	if sub.Extra != nil || sub.absent != 0 {
		return false
	}
	n := 5
	if m.MsgUUID != "" {
		n++
	}
	w.mapHeader(n)
	w.plainKey("cmd")
	w.str(cmdOr(m.Cmd, CmdTunnelData))
	w.plainKey("from_rt_uuid")
	w.str(m.From)
	w.plainKey("to_rt_uuid")
	w.str(m.To)
	if m.MsgUUID != "" {
		w.plainKey("msg_uuid")
		w.str(m.MsgUUID)
	}
	w.plainKey("tunnel_id")
	w.str(m.TunnelID)
	w.plainKey("value")
	n = 5
	if sub.MsgUUID != "" {
		n++
	}
	w.mapHeader(n)
	w.plainKey("cmd")
	if tok != nil {
		w.str(cmdOr(sub.Cmd, SubToken))
	} else {
		w.str(cmdOr(sub.Cmd, SubTokenReply))
	}
	if sub.MsgUUID != "" {
		w.plainKey("msg_uuid")
		w.str(sub.MsgUUID)
	}
	if tok != nil {
		w.plainKey("port_id")
		w.str(tok.PortID)
		w.plainKey("peer_port_id")
		w.str(tok.PeerPortID)
		w.plainKey("sequencenbr")
		w.uint(tok.SequenceNbr)
		w.plainKey("token")
		w.mapHeader(2)
		w.plainKey("type")
		w.str(tok.Token.Type)
		w.plainKey("data")
		w.depth = 2 // as deep as the general encoder is here
		w.value(tok.Token.Data)
		w.depth = 0
		w.mapEnd()
	} else {
		w.plainKey("port_id")
		w.str(rep.PortID)
		w.plainKey("peer_port_id")
		w.str(rep.PeerPortID)
		w.plainKey("sequencenbr")
		w.uint(rep.SequenceNbr)
		w.plainKey("value")
		w.str(rep.Value)
	}
	w.mapEnd()
	w.mapEnd()
	return true
}

// plainKey writes a key known to need no escape.
func (w *writer) plainKey(k string) {
	if w.mp {
		w.b = append(w.b, 0xa0|byte(len(k)))
		w.b = append(w.b, k...)
		return
	}
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}
