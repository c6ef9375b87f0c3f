package opaca

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerTimeoutsWith(t *testing.T) {
	d := DefaultServerTimeouts()
	got, err := d.With(0, 5*time.Second, 0)
	require.NoError(t, err)
	assert.Equal(t, ServerTimeouts{ReadHeader: DefaultReadHeaderTimeout, BodyRead: 5 * time.Second, Idle: DefaultIdleTimeout}, got, "zero keeps the current value")
	_, err = d.With(-time.Second, 0, 0)
	assert.Error(t, err)
}
