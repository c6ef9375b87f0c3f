// Package opaca holds the OPACA wire model shared by the client, the
// platform and the container SDK: every JSON document of the protocol with
// its exact field names and emission rules (spec §2, §3), the error
// response shape with sentinel and typed errors for the status codes, the
// event model, strict and lenient decoding, and the validation of action
// arguments against parameter declarations and JSON Schema definitions
// (spec §12).
//
// The package is the bottom layer of the OPACA stack: it imports nothing
// else of the module.
//
// Emission rules: collections are emitted as [] or {} and never as null;
// AgentContainerImage.url, Parameter.defaultValue and Parameter.items are
// omitted when empty; Event and User omit null fields; ErrorResponse.cause
// is always present. Decoding is done by DecodeStrict (request bodies to our
// own APIs: unknown fields rejected) or DecodeLenient (documents read from
// peers); both reject missing required fields with ErrUnprocessable.
package opaca
