package opaca

import (
	"encoding/json"
	"strings"
)

// DefaultAPIPort is the port of the Agent Container API (spec §1.4).
const DefaultAPIPort = 8082

// DefaultPlatformPort is the port of a Runtime Platform (spec §1.4).
const DefaultPlatformPort = 8000

// RuntimePlatform is the answer of a platform's GET /info (spec §3.1).
type RuntimePlatform struct {
	PlatformID   string           `json:"platformId"`
	BaseURL      string           `json:"baseUrl"`
	Containers   []AgentContainer `json:"containers"`
	Provides     []string         `json:"provides"`
	Connections  []string         `json:"connections"`
	RunningSince Time             `json:"runningSince"`
}

// AgentContainer describes a running container (spec §3.2).
type AgentContainer struct {
	ContainerID  string              `json:"containerId"`
	Image        AgentContainerImage `json:"image"`
	Arguments    Arguments           `json:"arguments"`
	Agents       []AgentDescription  `json:"agents"`
	Owner        string              `json:"owner"`
	RunningSince Time                `json:"runningSince"`
	// Connectivity is filled in by the platform; a container reports nil.
	Connectivity *Connectivity `json:"connectivity"`
}

// Connectivity tells how a container's ports are reachable from outside.
type Connectivity struct {
	PublicURL      string `json:"publicUrl"`
	APIPortMapping int    `json:"apiPortMapping"`
	// ExtraPortMappings maps a host port (decimal string) to the extra port
	// it exposes.
	ExtraPortMappings map[string]PortDescription `json:"extraPortMappings"`
}

// AgentContainerImage is a container's image description (spec §3.3).
type AgentContainerImage struct {
	ImageName   string   `json:"imageName"`
	Requires    []string `json:"requires"`
	Provides    []string `json:"provides"`
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	Description string   `json:"description"`
	Provider    string   `json:"provider"`
	// URL is omitted when empty (unknown to reference versions before 0.5).
	URL string `json:"url,omitempty"`
	// APIPort is the port of the container API; 0 means DefaultAPIPort and
	// is emitted as such.
	APIPort int `json:"apiPort"`
	// ExtraPorts maps a container port (decimal string) to its description.
	ExtraPorts map[string]PortDescription `json:"extraPorts"`
	Parameters []ImageParameter           `json:"parameters"`
	// Definitions maps a custom type name to a JSON Schema (draft-07).
	Definitions map[string]json.RawMessage `json:"definitions"`
	// DefinitionsByURL maps a custom type name to the URL of its schema.
	DefinitionsByURL map[string]string `json:"definitionsByUrl"`
}

// EffectiveAPIPort returns APIPort, or DefaultAPIPort when it is unset.
func (i AgentContainerImage) EffectiveAPIPort() int {
	if i.APIPort <= 0 {
		return DefaultAPIPort
	}
	return i.APIPort
}

// Port protocols of PortDescription.
const (
	ProtocolTCP = "TCP"
	ProtocolUDP = "UDP"
)

// PortDescription describes an extra port of a container.
type PortDescription struct {
	Protocol    string `json:"protocol"`
	Description string `json:"description"`
}

// IsUDP reports whether the port is a UDP port; anything but "udp"
// (case-insensitive) means TCP.
func (p PortDescription) IsUDP() bool { return strings.EqualFold(p.Protocol, ProtocolUDP) }

// ImageParameter is a parameter of an image; its value reaches the
// container as an environment variable (spec §3.3, §8.4).
type ImageParameter struct {
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	Required     bool            `json:"required"`
	Confidential bool            `json:"confidential"`
	DefaultValue json.RawMessage `json:"defaultValue,omitempty"`
}

// HasDefault reports whether the parameter declares a non-null default.
func (p ImageParameter) HasDefault() bool { return !isNullRaw(p.DefaultValue) }

// DefaultString returns the default as the environment value: a JSON string
// as its content, any other value as its JSON text (spec §8.4).
func (p ImageParameter) DefaultString() (string, bool) {
	if !p.HasDefault() {
		return "", false
	}
	return RawToString(p.DefaultValue), true
}

// PostAgentContainer is the body of POST and PUT /containers (spec §3.4).
type PostAgentContainer struct {
	Image     AgentContainerImage `json:"image"`
	Arguments Arguments           `json:"arguments"`
	// Pull: true always pull, false never, nil the platform's policy.
	Pull         *bool         `json:"pull"`
	ClientConfig *ClientConfig `json:"clientConfig"`
}

// ClientConfig selects and configures the container backend.
type ClientConfig struct {
	Type        ContainerEnvironment `json:"type"`
	NodeName    string               `json:"nodeName,omitempty"`
	HostNetwork bool                 `json:"hostNetwork,omitempty"`
}

// AgentDescription describes an agent (spec §3.5).
type AgentDescription struct {
	AgentID     string   `json:"agentId"`
	AgentType   string   `json:"agentType"`
	Description string   `json:"description"`
	Actions     []Action `json:"actions"`
	Streams     []Stream `json:"streams"`
}

// Action returns the action called name, if the agent offers it.
func (a AgentDescription) Action(name string) (Action, bool) {
	for _, act := range a.Actions {
		if act.Name == name {
			return act, true
		}
	}
	return Action{}, false
}

// Stream returns the stream called name, if the agent offers it.
func (a AgentDescription) Stream(name string) (Stream, bool) {
	for _, s := range a.Streams {
		if s.Name == name {
			return s, true
		}
	}
	return Stream{}, false
}

// Action describes an action of an agent (spec §3.5).
type Action struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Parameters  map[string]Parameter `json:"parameters"`
	// Result is nil for an action without result (emitted as null).
	Result *Parameter `json:"result"`
}

// Parameter types of spec §12; any other name is a custom type.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeNull    = "null"
	TypeObject  = "object"
	TypeArray   = "array"
)

// Parameter declares an action parameter or result (spec §3.5).
type Parameter struct {
	Type string `json:"type"`
	// Required defaults to true when nil; use IsRequired.
	Required *bool `json:"required"`
	// DefaultValue is informative; omitted when null.
	DefaultValue json.RawMessage `json:"defaultValue,omitempty"`
	// Items is the element type of an array; omitted when nil.
	Items *ArrayItems `json:"items,omitempty"`
}

// ArrayItems is the element type of an array parameter; it nests for
// arrays of arrays.
type ArrayItems struct {
	Type  string      `json:"type"`
	Items *ArrayItems `json:"items,omitempty"`
}

// NewParameter returns a required parameter of type typ.
func NewParameter(typ string) Parameter {
	t := true
	return Parameter{Type: typ, Required: &t}
}

// ArrayParameter returns a required array parameter whose elements have
// the type items.
func ArrayParameter(items ArrayItems) Parameter {
	p := NewParameter(TypeArray)
	p.Items = &items
	return p
}

// Optional returns a copy of p that is not required.
func (p Parameter) Optional() Parameter {
	f := false
	p.Required = &f
	return p
}

// WithDefault returns an optional copy of p with the default value v
// (marshalled to JSON; a json.RawMessage is used as is).
func (p Parameter) WithDefault(v any) (Parameter, error) {
	raw, err := toRaw(v)
	if err != nil {
		return p, err
	}
	p = p.Optional()
	p.DefaultValue = raw
	return p, nil
}

// IsRequired reports whether the parameter is required (the default).
func (p Parameter) IsRequired() bool { return p.Required == nil || *p.Required }

// HasDefault reports whether the parameter declares a non-null default.
func (p Parameter) HasDefault() bool { return !isNullRaw(p.DefaultValue) }

// Stream modes.
const (
	StreamGET  StreamMode = "GET"
	StreamPOST StreamMode = "POST"
)

// StreamMode is the direction of a stream: GET (agent to caller) or POST.
type StreamMode string

// Stream describes a stream of an agent (spec §3.5).
type Stream struct {
	Name        string     `json:"name"`
	Mode        StreamMode `json:"mode"`
	Description string     `json:"description"`
}

// Message is the body of /send and /broadcast (spec §3.6).
type Message struct {
	Payload json.RawMessage `json:"payload"`
	ReplyTo string          `json:"replyTo"`
}

// NewMessage returns a message carrying payload marshalled to JSON (a
// json.RawMessage is used as is).
func NewMessage(payload any, replyTo string) (Message, error) {
	raw, err := toRaw(payload)
	if err != nil {
		return Message{}, err
	}
	return Message{Payload: raw, ReplyTo: replyTo}, nil
}

// ConnectionRequest is the body of POST and DELETE /connections (§3.8).
// Token is emitted as null when empty and must never be logged.
type ConnectionRequest struct {
	URL         string `json:"url"`
	ConnectBack bool   `json:"connectBack"`
	Token       string `json:"token"`
}

// Login carries credentials for /login and container login (spec §3.8).
type Login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Roles, in descending privilege (spec §3.9).
const (
	RoleAdmin       Role = "ADMIN"
	RoleContributor Role = "CONTRIBUTOR"
	RoleUser        Role = "USER"
	RoleGuest       Role = "GUEST"
)

// Role is a user role.
type Role string

// User is a platform user (spec §3.8). Empty fields are omitted, except
// privileges, which is always a list.
type User struct {
	Username             string            `json:"username,omitempty"`
	Password             string            `json:"password,omitempty"`
	Role                 Role              `json:"role,omitempty"`
	Privileges           []string          `json:"privileges"`
	ContainerLoginTokens map[string]string `json:"containerLoginTokens,omitempty"`
}

// Public returns the public view of u: username, role and privileges.
func (u User) Public() User {
	return User{Username: u.Username, Role: u.Role, Privileges: u.Privileges}
}

// Container environments (clientConfig.type, CONTAINER_ENVIRONMENT).
const (
	ContainerDocker     ContainerEnvironment = "DOCKER"
	ContainerKubernetes ContainerEnvironment = "KUBERNETES"
)

// ContainerEnvironment names a container backend.
type ContainerEnvironment string

// Platform environments (PLATFORM_ENVIRONMENT).
const (
	PlatformNative     PlatformEnvironment = "NATIVE"
	PlatformDocker     PlatformEnvironment = "DOCKER"
	PlatformKubernetes PlatformEnvironment = "KUBERNETES"
)

// PlatformEnvironment names where the platform itself runs.
type PlatformEnvironment string

// Session policies (SESSION_POLICY).
const (
	SessionShutdown  SessionPolicy = "SHUTDOWN"
	SessionRestart   SessionPolicy = "RESTART"
	SessionReconnect SessionPolicy = "RECONNECT"
)

// SessionPolicy says what a platform does with its containers on shutdown.
type SessionPolicy string
