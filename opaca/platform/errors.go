package platform

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// Sentinel errors; an *APIError matches the one of its status class.
var (
	ErrBadRequest    = errors.New("platform: bad request")
	ErrNotFound      = errors.New("platform: not found")
	ErrForbidden     = errors.New("platform: forbidden")
	ErrUnauthorized  = errors.New("platform: unauthorized")
	ErrConflict      = errors.New("platform: conflict")
	ErrUnprocessable = errors.New("platform: unprocessable body")
	ErrBadGateway    = errors.New("platform: downstream failure")
	ErrClosed        = errors.New("platform: closed")
)

// APIError is an error answer of the platform API: status, message and the
// downstream cause (spec §6).
type APIError struct {
	Status  int
	Message string
	Cause   *opaca.ErrorResponse
	Err     error
}

func (e *APIError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("platform: %d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("platform: %d %s", e.Status, e.Message)
}

func (e *APIError) Unwrap() error { return e.Err }

// Is matches the sentinel of the status.
func (e *APIError) Is(target error) bool {
	switch e.Status {
	case http.StatusBadRequest:
		return target == ErrBadRequest
	case http.StatusNotFound:
		return target == ErrNotFound
	case http.StatusForbidden:
		return target == ErrForbidden
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusConflict:
		return target == ErrConflict
	case http.StatusUnprocessableEntity:
		return target == ErrUnprocessable
	case http.StatusBadGateway:
		return target == ErrBadGateway
	}
	return false
}

func (e *APIError) response() opaca.ErrorResponse {
	return opaca.ErrorResponse{StatusCode: e.Status, Message: e.Message, Cause: e.Cause}
}

func apiErr(status int, format string, args ...any) *APIError {
	return &APIError{Status: status, Message: fmt.Sprintf(format, args...)}
}

var errNotFound = &APIError{Status: http.StatusNotFound, Message: "Requested resource not found."}

// downstreamErr turns a failed call to a container or peer into a 502 with
// the downstream error as cause (spec §6.3).
func downstreamErr(target string, err error) *APIError {
	e := &APIError{Status: http.StatusBadGateway, Message: "Encountered an error when sending request to " + target, Err: err}
	var se *client.StatusError
	if errors.As(err, &se) {
		c := se.AsErrorResponse()
		e.Cause = &c
	}
	return e
}

// toAPIError maps any error to an APIError.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, ErrBadRequest):
		return &APIError{Status: 400, Message: err.Error(), Err: err}
	case errors.Is(err, ErrNotFound):
		return &APIError{Status: 404, Message: err.Error(), Err: err}
	}
	return &APIError{Status: http.StatusInternalServerError, Message: err.Error(), Err: err}
}
