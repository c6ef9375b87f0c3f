package platform

import "log/slog"

// slogger is a thin wrapper so call sites stay short.
type slogger struct{ *slog.Logger }
