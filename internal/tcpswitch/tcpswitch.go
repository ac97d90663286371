// Package tcpswitch is a TCP forwarder that tests switch off and on: off,
// it closes its listener and cuts every connection; on, it listens on the
// same port again. To its clients it looks like a server stopped and
// restarted, while the server behind it keeps its state.
package tcpswitch

import (
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards connections on Addr to a target address.
type Proxy struct {
	// Addr is where the proxy listens, host:port on 127.0.0.1.
	Addr   string
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]bool
}

// New starts a proxy on a free local port, forwarding to target.
func New(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.serve(l)
	return p, nil
}

func (p *Proxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *Proxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.l == nil { // switched off meanwhile
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

// Off closes the listener and every connection.
func (p *Proxy) Off() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// On listens on Addr again; a no-op when on.
func (p *Proxy) On() error {
	p.mu.Lock()
	on := p.l != nil
	p.mu.Unlock()
	if on {
		return nil
	}
	var l net.Listener
	var err error
	for range 100 { // the port was just closed; it may take a moment
		if l, err = net.Listen("tcp", p.Addr); err == nil {
			p.serve(l)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// ClosedURL is an https base URL on a loopback port nothing listens on: a
// server that cannot be reached.
func ClosedURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return "https://" + addr + "/", nil
}
