// Package std provides the standard Calvin actors under calvin-base's type
// names, with the same ports, arguments, managed attributes and behaviour
// (spec chapter 11): std.CountTimer, std.Counter, std.Identity,
// std.Constant, std.Sum, io.Print, test.Sink and flow.Terminator. An
// instance can migrate between a meshkit node and a Calvin node in both
// directions because its state is exported exactly as Calvin's
// implementation of the type would export it.
//
// Register them with Register or NewRegistry and pass the registry to
// actor.NewRuntime.
package std
