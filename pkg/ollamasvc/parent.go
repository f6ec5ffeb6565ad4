package ollamasvc

import (
	"context"
	"errors"
	"os"
	"os/signal"
)

// errParentGone is the cause of a child's context when its service died.
var errParentGone = errors.New("ollama-service is gone")

// WatchParent returns ctx cancelled when the parent-death signal arrives
// (Linux: the service died, also by kill -9), a report of whether it did
// (ChildOptions.ParentGone), and a stop func that ends the watch.
func WatchParent(ctx context.Context) (context.Context, func() bool, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := parentDeathSignals()
	if len(sigs) == 0 {
		return ctx, func() bool { return false }, func() { cancel(nil) }
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel(errParentGone)
		case <-done:
		}
	}()
	gone := func() bool { return errors.Is(context.Cause(ctx), errParentGone) }
	return ctx, gone, func() { signal.Stop(ch); close(done); cancel(nil) }
}
