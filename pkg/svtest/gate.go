package svtest

import "sync"

// Gate lets a fake server hold its work until the test releases it (the
// fakes' Hold/Release). The zero value is open; it is safe for concurrent
// use.
type Gate struct {
	mu sync.Mutex
	ch chan struct{}
}

// Hold closes the gate: work that looks at C from now on waits.
func (g *Gate) Hold() {
	g.mu.Lock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	g.mu.Unlock()
}

// Release opens the gate and wakes everything waiting on it.
func (g *Gate) Release() {
	g.mu.Lock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
	g.mu.Unlock()
}

// C is the channel held work waits on; nil while the gate is open.
func (g *Gate) C() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ch
}
