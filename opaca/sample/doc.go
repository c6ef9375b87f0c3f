// Package sample is the Go equivalent of the reference OPACA sample agent
// container (spec chapter 17): agents sample1 and sample2 of type
// de.gtarc.opaca.sample.SampleAgent with the actions DoThis, GetInfo,
// OutboundInvokeTest, GetEnv, Add, Fail, CreateAction, SpawnAgent,
// Deregister, ErrorTest, ValidatorTest and LoginTest, the streams
// GetStream and PostStream, message, broadcast and event handling, a
// login handler, and the helper servers on the extra ports 8888 (TCP,
// "It Works!") and 8889 (UDP, echoes each datagram twice).
//
// It is a test fixture: it deliberately reveals its token and environment
// (GetInfo, GetEnv) and is not meant for production. A platform hosts it
// in-process with New(WithEnv(env)); examples/samplecontainer serves it
// standalone.
package sample
