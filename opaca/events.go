package opaca

import (
	"regexp"
	"strings"
	"time"
)

// Event types (spec §3.7, §10.1).
const (
	EventCall    EventType = "CALL"
	EventForward EventType = "FORWARD"
	EventSuccess EventType = "SUCCESS"
	EventError   EventType = "ERROR"
)

// EventType classifies an event.
type EventType string

// Event records a request handled by a platform (spec §3.7). Empty
// optional fields are omitted.
type Event struct {
	ID string `json:"id"`
	// Timestamp is in milliseconds since the Unix epoch.
	Timestamp  int64     `json:"timestamp"`
	EventType  EventType `json:"eventType"`
	Route      string    `json:"route,omitempty"`
	SenderID   string    `json:"senderId,omitempty"`
	Receiver   string    `json:"receiver,omitempty"`
	StatusCode int       `json:"statusCode,omitempty"`
	RelatedID  string    `json:"relatedId,omitempty"`
}

// Time returns the event's timestamp.
func (e Event) Time() time.Time { return time.UnixMilli(e.Timestamp).UTC() }

// Topic returns the websocket topic an event's route belongs to: its first
// path segment with a leading slash ("POST /invoke/Add" → "/invoke").
func (e Event) Topic() string { return RouteTopic(e.Route) }

// RouteTopic returns the first path segment of a "METHOD /path" route with
// a leading slash, or "" when the route has no path.
func RouteTopic(route string) string {
	_, path, ok := strings.Cut(route, " ")
	if !ok {
		path = route
	}
	path = strings.TrimLeft(path, "/")
	if path == "" {
		return ""
	}
	seg, _, _ := strings.Cut(path, "/")
	seg, _, _ = strings.Cut(seg, "?")
	return "/" + seg
}

var invokeRoute = regexp.MustCompile(`invoke/(\w+)`)

// InvokedAction returns the action name of an event's route: the first
// match of invoke/(\w+) as the reference container does (spec §15.7).
func (e Event) InvokedAction() (string, bool) {
	m := invokeRoute.FindStringSubmatch(e.Route)
	if m == nil {
		return "", false
	}
	return m[1], true
}
