package cliapp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ServeUntilDone serves hs on ln until ctx ends (SIGINT/SIGTERM under Run),
// then shuts it down, giving open requests grace to finish. A serve error
// other than the shutdown's own is returned.
func ServeUntilDone(ctx context.Context, hs *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
