package platform

import (
	"context"

	"github.com/meshkit/meshkit/opaca"
)

// argValidator checks invoke arguments against an action's parameters with
// the custom types of one container image (spec §12).
type argValidator struct{ v *opaca.Validator }

func newArgValidator(img opaca.AgentContainerImage, log slogger) *argValidator {
	v, err := opaca.NewImageValidator(img, opaca.WithValidatorLogger(log.Logger))
	if err != nil {
		log.Warn("building the argument validator failed; arguments go unchecked", "image", img.ImageName, "err", err)
		return &argValidator{}
	}
	return &argValidator{v: v}
}

// valid validates a raw invoke body (a JSON object).
func (a *argValidator) valid(ctx context.Context, act opaca.Action, body []byte) bool {
	var v *opaca.Validator
	if a != nil {
		v = a.v
	}
	return v.ValidateBody(ctx, act.Parameters, body) == nil
}
