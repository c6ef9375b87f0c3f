package control

import "errors"

// Sentinel errors.
var (
	// ErrInvalidOption: an option passed to NewHandler is invalid.
	ErrInvalidOption = errors.New("control: invalid option")
	// ErrBadJSON: a request body is not valid JSON (answered 400).
	ErrBadJSON = errors.New("control: request body is not valid JSON")
)
