package wire

// Status codes of a CalvinResponse (spec §3.5).
const (
	StatusOK                 = 200
	StatusBadRequest         = 400
	StatusNotFound           = 404
	StatusGone               = 410
	StatusInternalError      = 500
	StatusNotImplemented     = 501
	StatusServiceUnavailable = 503
	StatusGatewayTimeout     = 504
)

// DefaultSuccessList returns Calvin's success list, 200 to 206.
func DefaultSuccessList() []int { return []int{200, 201, 202, 203, 204, 205, 206} }

// Response is an encoded CalvinResponse, the value of every REPLY (spec
// §3.5). It always encodes all three keys; a nil SuccessList is sent as
// 200..206. Extra keeps unknown keys of a decoded response.
type Response struct {
	Status      int   // "status"
	Data        any   // "data"
	SuccessList []int // "success_list"
	Extra       map[string]any
}

// NewResponse returns a response with the default success list.
func NewResponse(status int, data any) Response {
	return Response{Status: status, Data: data, SuccessList: DefaultSuccessList()}
}

// BoolResponse encodes a boolean result as Calvin does: 200 or 500, data null.
func BoolResponse(ok bool) Response {
	if ok {
		return NewResponse(StatusOK, nil)
	}
	return NewResponse(StatusInternalError, nil)
}

// Success reports whether Status is in the success list (200..206 when the
// list is nil).
func (r Response) Success() bool {
	if r.SuccessList == nil {
		return r.Status >= 200 && r.Status <= 206
	}
	for _, s := range r.SuccessList {
		if s == r.Status {
			return true
		}
	}
	return false
}

// OK is Success.
func (r Response) OK() bool { return r.Success() }

func (r Response) wireFields(o *obj) {
	o.begin(r.Extra, 0)
	o.int(kStatus, int64(r.Status))
	o.val(kData, r.Data)
	if r.SuccessList == nil {
		o.ints(kSuccessList, defaultSuccessList[:])
	} else {
		o.ints(kSuccessList, r.SuccessList)
	}
	o.rest()
}

var defaultSuccessList = [...]int{200, 201, 202, 203, 204, 205, 206}

// ResponseFrom interprets a generic value as a CalvinResponse: a map with an
// integer status; a missing data is nil and a missing success_list 200..206.
// The map is not modified.
func ResponseFrom(v any) (Response, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return Response{}, false
	}
	cp := make(map[string]any, len(m))
	for k, e := range m {
		cp[k] = e
	}
	c := getCtx()
	defer putCtx(c)
	return c.mapRoot(cp, 1).response()
}

func intList(v any) ([]int, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]int, len(l))
	for i, e := range l {
		n, ok := e.(int64)
		if !ok || int64(int(n)) != n {
			return nil, false
		}
		out[i] = int(n)
	}
	return out, true
}
