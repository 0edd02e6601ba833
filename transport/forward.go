package transport

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// DialTCP opens a TCP connection to addr as seen from the node
// (direct-tcpip through the SSH connection), e.g. "127.0.0.1:9763".
func (c *Client) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	start := time.Now()
	conn, err := c.conn.DialContext(ctx, "tcp", addr)
	if c.cfg.Trace != nil {
		c.cfg.trace(TraceEvent{Kind: TraceForward, Addr: addr, User: c.s.user, Err: err, Took: time.Since(start)})
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.connErr("forward to "+addr, ctx.Err())
		}
		return nil, c.connErr("forward to "+addr, err)
	}
	return conn, nil
}

// HTTPClient returns an *http.Client whose connections go through DialTCP,
// for health checks of ports only the node itself can reach. Proxies from
// the environment are not used. insecureTLS skips certificate checks (for
// the self-signed certificates of a fresh product install).
func (c *Client) HTTPClient(insecureTLS bool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return c.DialTCP(ctx, addr)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: insecureTLS},
		DisableKeepAlives: true,
	}}
}
