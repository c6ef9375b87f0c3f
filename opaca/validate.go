package opaca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ArgumentError says which argument of an invocation is wrong and why. It
// matches ErrInvalidArgument (and so ErrBadRequest) with errors.Is.
type ArgumentError struct {
	// Argument is the parameter name; empty when the body as a whole is
	// wrong (not a JSON object).
	Argument string
	// Path locates the offending value inside the argument, e.g.
	// "passengers[1]"; empty for the argument itself.
	Path string
	// Reason explains the failure.
	Reason string
}

func (e *ArgumentError) Error() string {
	switch {
	case e.Argument == "":
		return "invalid arguments: " + e.Reason
	case e.Path == "":
		return fmt.Sprintf("argument %q: %s", e.Argument, e.Reason)
	}
	return fmt.Sprintf("argument %q at %s: %s", e.Argument, e.Path, e.Reason)
}

// Unwrap makes the error match ErrInvalidArgument.
func (e *ArgumentError) Unwrap() error { return ErrInvalidArgument }

// Validation defaults of spec §12.
const (
	DefaultSchemaFetchTimeout = 10 * time.Second
	DefaultSchemaFailureTTL   = 60 * time.Second
	maxSchemaSize             = 4 << 20
)

// ValidatorOption configures a Validator.
type ValidatorOption func(*validatorConfig) error

type validatorConfig struct {
	client     *http.Client
	fetch      bool
	timeout    time.Duration
	failureTTL time.Duration
	logger     *slog.Logger
	now        func() time.Time
}

// WithSchemaClient sets the HTTP client used to fetch definitionsByUrl.
func WithSchemaClient(c *http.Client) ValidatorOption {
	return func(cfg *validatorConfig) error {
		if c == nil {
			return errors.New("opaca: nil schema client")
		}
		cfg.client = c
		return nil
	}
}

// WithoutSchemaFetch disables fetching definitionsByUrl; values of such
// types are then accepted unchecked.
func WithoutSchemaFetch() ValidatorOption {
	return func(cfg *validatorConfig) error { cfg.fetch = false; return nil }
}

// WithSchemaFetchTimeout bounds one schema fetch (default 10 s).
func WithSchemaFetchTimeout(d time.Duration) ValidatorOption {
	return func(cfg *validatorConfig) error {
		if d <= 0 {
			return fmt.Errorf("opaca: schema fetch timeout must be positive, got %v", d)
		}
		cfg.timeout = d
		return nil
	}
}

// WithSchemaFailureTTL sets how long a failed fetch is remembered before
// it is retried (default 60 s).
func WithSchemaFailureTTL(d time.Duration) ValidatorOption {
	return func(cfg *validatorConfig) error {
		if d < 0 {
			return fmt.Errorf("opaca: schema failure TTL must not be negative, got %v", d)
		}
		cfg.failureTTL = d
		return nil
	}
}

// WithValidatorLogger sets the logger for warnings (unknown types,
// unreachable schemas). Default: discard.
func WithValidatorLogger(l *slog.Logger) ValidatorOption {
	return func(cfg *validatorConfig) error {
		if l == nil {
			return errors.New("opaca: nil logger")
		}
		cfg.logger = l
		return nil
	}
}

// Validator checks invocation arguments against action parameters (spec
// §12) with the custom types of one container image. It is safe for
// concurrent use; a nil *Validator validates without custom definitions.
type Validator struct {
	cfg      validatorConfig
	defs     map[string]*schema
	byURL    map[string]string
	problems []error

	mu      sync.Mutex
	fetched map[string]fetchEntry
	sf      singleflight.Group
	warned  sync.Map
}

type fetchEntry struct {
	s     *schema
	until time.Time // zero: forever (success)
}

// NewValidator builds a validator from an image's definitions and
// definitionsByUrl. A definition that is not a usable schema does not make
// construction fail (peers' descriptions must not break the platform): its
// values are accepted unchecked and the problem is reported by Problems.
// Only bad options are errors.
func NewValidator(definitions map[string]json.RawMessage, definitionsByURL map[string]string, opts ...ValidatorOption) (*Validator, error) {
	v := &Validator{
		cfg: validatorConfig{
			fetch: true, timeout: DefaultSchemaFetchTimeout, failureTTL: DefaultSchemaFailureTTL,
			logger: slog.New(slog.DiscardHandler), now: time.Now,
		},
		defs:    make(map[string]*schema, len(definitions)),
		byURL:   definitionsByURL,
		fetched: map[string]fetchEntry{},
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("opaca: nil validator option")
		}
		if err := o(&v.cfg); err != nil {
			return nil, err
		}
	}
	if v.cfg.client == nil {
		v.cfg.client = &http.Client{Timeout: v.cfg.timeout}
	}
	names := make([]string, 0, len(definitions))
	for name := range definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s, err := compileSchema(definitions[name])
		if err != nil {
			v.problems = append(v.problems, fmt.Errorf("definition %q: %w", name, err))
			v.cfg.logger.Warn("opaca: unusable type definition, values accepted unchecked", "type", name, "err", err)
			continue
		}
		v.defs[name] = s
	}
	return v, nil
}

// NewImageValidator builds the validator of an image.
func NewImageValidator(img AgentContainerImage, opts ...ValidatorOption) (*Validator, error) {
	return NewValidator(img.Definitions, img.DefinitionsByURL, opts...)
}

// Problems lists the definitions that could not be compiled.
func (v *Validator) Problems() []error {
	if v == nil {
		return nil
	}
	return append([]error(nil), v.problems...)
}

// ValidateBody validates a raw invoke body (a JSON object of parameter
// name → value; an empty body counts as {}) against params.
func (v *Validator) ValidateBody(ctx context.Context, params map[string]Parameter, body []byte) error {
	b := trimWS(body)
	if len(b) == 0 {
		b = []byte("{}")
	}
	if b[0] != '{' {
		if _, err := oneValue(b); err != nil {
			return &ArgumentError{Reason: "body is not valid JSON"}
		}
		return &ArgumentError{Reason: "body is not a JSON object but " + kindName(b)}
	}
	if _, err := oneValue(b); err != nil {
		return &ArgumentError{Reason: "body is not valid JSON"}
	}
	// Small stack buffer of seen keys: duplicate keys are not counted twice.
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	present := 0
	err := eachMember(b, func(rawKey []byte, esc bool, val []byte) error {
		var name string
		var p Parameter
		var ok bool
		if esc {
			name = decodeKey(rawKey, true)
			p, ok = params[name]
		} else {
			p, ok = params[string(rawKey)]
		}
		if !ok {
			return &ArgumentError{Argument: decodeKey(rawKey, esc), Reason: "not a parameter of the action"}
		}
		if err := v.checkArgument(ctx, p, val, true); err != nil {
			err.Argument = decodeKey(rawKey, esc)
			return err
		}
		if p.IsRequired() {
			dup := false
			for _, k := range seen {
				if string(k) == string(rawKey) {
					dup = true
					break
				}
			}
			if !dup {
				seen = append(seen, rawKey)
				present++
			}
		}
		return nil
	})
	if err != nil {
		var ae *ArgumentError
		if errors.As(err, &ae) {
			return ae
		}
		return &ArgumentError{Reason: "body is not valid JSON"}
	}
	required := 0
	for _, p := range params {
		if p.IsRequired() {
			required++
		}
	}
	if present < required {
		args := map[string]json.RawMessage{}
		_ = json.Unmarshal(b, &args)
		return firstMissing(params, args)
	}
	return nil
}

// ValidateArguments validates decoded arguments against params. When
// several arguments are wrong, the report names the first in sorted
// order (missing arguments first, then unknown ones, then bad values).
func (v *Validator) ValidateArguments(ctx context.Context, params map[string]Parameter, args map[string]json.RawMessage) error {
	// Fast pass in map order; the slow deterministic pass runs only on
	// failure.
	failed := false
	for name, p := range params {
		if p.IsRequired() {
			if _, ok := args[name]; !ok {
				failed = true
				break
			}
		}
	}
	if !failed {
		for name, raw := range args {
			p, ok := params[name]
			if !ok {
				failed = true
				break
			}
			if err := v.checkArgument(ctx, p, raw, false); err != nil {
				failed = true
				break
			}
		}
	}
	if !failed {
		return nil
	}
	if err := firstMissing(params, args); err != nil {
		return err
	}
	names := make([]string, 0, len(args))
	for name := range args {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := params[name]; !ok {
			return &ArgumentError{Argument: name, Reason: "not a parameter of the action"}
		}
	}
	for _, name := range names {
		if err := v.checkArgument(ctx, params[name], args[name], false); err != nil {
			err.Argument = name
			return err
		}
	}
	return nil
}

func firstMissing(params map[string]Parameter, args map[string]json.RawMessage) error {
	var missing []string
	for name, p := range params {
		if _, ok := args[name]; !ok && p.IsRequired() {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return &ArgumentError{Argument: missing[0], Reason: "required argument is missing"}
}

// ValidateValue validates one value against a parameter declaration.
func (v *Validator) ValidateValue(ctx context.Context, p Parameter, value json.RawMessage) error {
	if err := v.checkArgument(ctx, p, value, false); err != nil {
		return err
	}
	return nil
}

// checkArgument applies rule 3 of §12 to one argument. scanned says the
// value is already known to be exactly one well-formed JSON value.
func (v *Validator) checkArgument(ctx context.Context, p Parameter, raw []byte, scanned bool) *ArgumentError {
	b := trimWS(raw)
	if len(b) == 0 {
		return &ArgumentError{Reason: "empty value"}
	}
	if !scanned {
		if _, err := oneValue(b); err != nil {
			return &ArgumentError{Reason: "malformed JSON value"}
		}
	}
	if !p.IsRequired() && string(b) == "null" {
		return nil
	}
	return v.checkType(ctx, p.Type, p.Items, b)
}

func (v *Validator) checkType(ctx context.Context, typ string, items *ArrayItems, b []byte) *ArgumentError {
	switch typ {
	case TypeInteger:
		if !isInt32(b) {
			return &ArgumentError{Reason: "expected integer (32-bit, no fraction or exponent), got " + describe(b)}
		}
	case TypeNumber:
		if end, _, err := scanNumber(b, 0); err != nil || end != len(b) {
			return &ArgumentError{Reason: "expected number, got " + describe(b)}
		}
	case TypeBoolean:
		if string(b) != "true" && string(b) != "false" {
			return &ArgumentError{Reason: "expected boolean, got " + describe(b)}
		}
	case TypeString:
		if b[0] != '"' {
			return &ArgumentError{Reason: "expected string, got " + describe(b)}
		}
	case TypeNull:
		if string(b) != "null" {
			return &ArgumentError{Reason: "expected null, got " + describe(b)}
		}
	case TypeArray:
		if b[0] != '[' {
			return &ArgumentError{Reason: "expected array, got " + describe(b)}
		}
		if items == nil {
			return nil // Go: an array without items accepts any elements
		}
		var ae *ArgumentError
		err := eachElem(b, func(i int, elem []byte) error {
			if string(elem) == "null" && items.Type != TypeNull {
				ae = &ArgumentError{Path: fmt.Sprintf("[%d]", i), Reason: "array elements must not be null"}
				return ae
			}
			if e := v.checkType(ctx, items.Type, items.Items, elem); e != nil {
				e.Path = joinPath(fmt.Sprintf("[%d]", i), e.Path)
				ae = e
				return e
			}
			return nil
		})
		if ae != nil {
			return ae
		}
		if err != nil {
			return &ArgumentError{Reason: "malformed array"}
		}
	case TypeObject:
		if b[0] != '{' {
			return &ArgumentError{Reason: "expected object, got " + describe(b)}
		}
		return v.checkCustom(ctx, typ, b, false)
	default:
		return v.checkCustom(ctx, typ, b, true)
	}
	return nil
}

func joinPath(outer, inner string) string {
	switch {
	case inner == "":
		return outer
	case strings.HasPrefix(inner, "["):
		return outer + inner
	}
	return outer + "." + inner
}

func describe(b []byte) string {
	k := kindName(b)
	if len(b) <= 32 && k != "object" && k != "array" {
		return k + " " + string(b)
	}
	return k
}

// checkCustom validates against a named definition: inline first, then
// by URL. warn says whether a type without any definition deserves a
// warning (not for the built-in "object").
func (v *Validator) checkCustom(ctx context.Context, typ string, b []byte, warn bool) *ArgumentError {
	var s *schema
	if v != nil {
		s = v.defs[typ]
		if s == nil {
			if url, ok := v.byURL[typ]; ok {
				s = v.fetchSchema(ctx, typ, url)
			} else if warn {
				v.warnOnce("type:"+typ, "opaca: no definition for parameter type, value accepted unchecked", "type", typ)
			}
		}
	}
	if s == nil {
		if _, err := oneValue(b); err != nil {
			return &ArgumentError{Reason: "malformed value"}
		}
		return nil
	}
	if vio := s.validate(b, 0); vio != nil {
		return &ArgumentError{Path: vio.pathString(), Reason: fmt.Sprintf("does not match type %s: %s", typ, vio.msg)}
	}
	return nil
}

func (v *Validator) warnOnce(key, msg string, args ...any) {
	if _, loaded := v.warned.LoadOrStore(key, true); !loaded {
		v.cfg.logger.Warn(msg, args...)
	}
}

// fetchSchema returns the schema behind a definitionsByUrl entry, or nil
// while it is unavailable (then the value is accepted, spec §12).
func (v *Validator) fetchSchema(ctx context.Context, typ, url string) *schema {
	if !v.cfg.fetch {
		v.warnOnce("nofetch:"+typ, "opaca: schema fetching disabled, value accepted unchecked", "type", typ)
		return nil
	}
	v.mu.Lock()
	e, ok := v.fetched[url]
	v.mu.Unlock()
	if ok && (e.until.IsZero() || v.cfg.now().Before(e.until)) {
		return e.s
	}
	res, _, _ := v.sf.Do(url, func() (any, error) {
		s, err := v.download(ctx, url)
		entry := fetchEntry{s: s}
		if err != nil {
			entry = fetchEntry{until: v.cfg.now().Add(v.cfg.failureTTL)}
			v.cfg.logger.Warn("opaca: schema unavailable, values accepted unchecked", "type", typ, "url", url, "err", err)
		}
		v.mu.Lock()
		v.fetched[url] = entry
		v.mu.Unlock()
		return entry.s, nil
	})
	s, _ := res.(*schema)
	return s
}

func (v *Validator) download(ctx context.Context, url string) (*schema, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/schema+json, application/json")
	resp, err := v.cfg.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSchemaSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxSchemaSize {
		return nil, errors.New("schema larger than 4 MiB")
	}
	return compileSchema(body)
}
