package actor

// Observer is told about actor life-cycle events, e.g. to feed metrics. Its
// methods are called synchronously from the runtime and must not block or
// call back into the runtime.
type Observer interface {
	ActorCreated(id, typeName string, migrated bool)
	ActorDeleted(id string, migrated bool)
	// ActorMigrated reports the end of an outgoing migration; err is nil
	// when the destination took the actor.
	ActorMigrated(id, toNode string, err error)
}

// NopObserver ignores every event; embed it to implement only some methods.
type NopObserver struct{}

// ActorCreated does nothing.
func (NopObserver) ActorCreated(string, string, bool) {}

// ActorDeleted does nothing.
func (NopObserver) ActorDeleted(string, bool) {}

// ActorMigrated does nothing.
func (NopObserver) ActorMigrated(string, string, error) {}
