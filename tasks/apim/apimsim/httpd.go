package apimsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// GatewayHealthPath is the gateway's startup health check (HTTPS, 9443+offset).
const GatewayHealthPath = "/api/am/gateway/v2/server-startup-healthcheck"

// VersionPath is the version service every node serves (HTTP 9763+offset, and on 9443+offset).
const VersionPath = "/services/Version"

// servlet is the node's HTTP and HTTPS servlet transport.
type servlet struct {
	started   atomic.Bool
	unhealthy bool
	gateway   bool // the gateway startup health check is deployed
	product   string
	srvs      []*http.Server
}

func (s *servlet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == VersionPath:
		if !s.started.Load() || s.unhealthy {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, "<ns:getVersionResponse xmlns:ns=\"http://version.services.core.carbon.wso2.org\"><return>%s</return></ns:getVersionResponse>\n", s.product)
	case r.URL.Path == GatewayHealthPath && s.gateway:
		if !s.started.Load() || s.unhealthy {
			http.Error(w, `{"status":"NOT_READY"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{\"status\":\"READY\"}\n")
	default:
		http.NotFound(w, r)
	}
}

// listen binds 127.0.0.1:9763+offset and 127.0.0.1:9443+offset (TLS, self-signed) and serves.
func (s *servlet) listen(offset int) error {
	httpPort, httpsPort := Ports(offset)
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	lh, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)))
	if err != nil {
		return err
	}
	ls, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort)))
	if err != nil {
		lh.Close()
		return err
	}
	quiet := log.New(io.Discard, "", 0)
	plain := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quiet}
	secure := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quiet,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	s.srvs = []*http.Server{plain, secure}
	go plain.Serve(lh)
	go secure.ServeTLS(ls, "", "")
	return nil
}

func (s *servlet) close() {
	for _, srv := range s.srvs {
		srv.Close()
	}
}

// selfSigned makes the run-time certificate for localhost / 127.0.0.1.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"WSO2"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * 365 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
