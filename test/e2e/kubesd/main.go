// Command kubernetes-sd is TEST INFRASTRUCTURE for the local e2e cluster
// (docs/local-cluster.md). Debian's prometheus package is built without
// Kubernetes service discovery (its NEWS.Debian: "Kubernetes support has
// been completely removed, due to the insane amount of dependencies in
// their client library"), so kubernetes_sd_configs does not parse there.
// This program runs upstream Prometheus's own Kubernetes discovery
// (github.com/prometheus/prometheus/discovery/kubernetes, driven by its
// discovery.Manager: the code kubernetes_sd_configs runs inside an upstream
// Prometheus) against kube-apiserver and serves what it finds to Debian's
// Prometheus through http_sd_configs: the same targets with the same
// __meta_kubernetes_* labels, so the relabeling Prometheus Operator
// generates for a ServiceMonitor applies unchanged.
//
//	kubernetes-sd --listen 127.0.0.1:9091 --api-server https://10.243.0.1:6443 \
//	    --ca-file ca.crt --token-file token --role endpointslice --namespace voiceassist
//
// GET /sd answers in the HTTP SD format
// (https://prometheus.io/docs/prometheus/latest/http_sd/): one target
// group per discovered target, its labels being the group's and the
// target's own merged, as Prometheus merges them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

const job = "kubernetes"

func main() {
	listen := flag.String("listen", "127.0.0.1:9091", "address serving GET /sd (HTTP SD) and /-/ready")
	apiServer := flag.String("api-server", "", "kube-apiserver URL (required)")
	caFile := flag.String("ca-file", "", "CA bundle verifying kube-apiserver (required)")
	tokenFile := flag.String("token-file", "", "bearer token file: the identity discovery lists and watches as (required)")
	role := flag.String("role", "endpointslice", "kubernetes_sd_configs role: endpointslice, endpoints, pod, service, node or ingress")
	var namespaces stringsFlag
	flag.Var(&namespaces, "namespace", "namespace to discover in (repeatable; none: all)")
	flag.Parse()
	if *apiServer == "" || *caFile == "" || *tokenFile == "" {
		fmt.Fprintln(os.Stderr, "kubernetes-sd: --api-server, --ca-file and --token-file are required")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	u, err := url.Parse(*apiServer)
	if err != nil {
		log.Error("--api-server", "err", err)
		os.Exit(2)
	}
	sd := &kubernetes.SDConfig{
		APIServer: config.URL{URL: u},
		Role:      kubernetes.Role(*role),
		HTTPClientConfig: config.HTTPClientConfig{
			Authorization: &config.Authorization{Type: "Bearer", CredentialsFile: *tokenFile},
			TLSConfig:     config.TLSConfig{CAFile: *caFile},
		},
		NamespaceDiscovery: kubernetes.NamespaceDiscovery{Names: namespaces},
	}
	// What kubernetes_sd_configs' YAML unmarshalling would check.
	if err := sd.HTTPClientConfig.Validate(); err != nil {
		log.Error("config", "err", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	sdMetrics, err := discovery.CreateAndRegisterSDMetrics(reg)
	if err != nil {
		log.Error("metrics", "err", err)
		os.Exit(1)
	}
	mgr := discovery.NewManager(ctx, log, reg, sdMetrics)
	if mgr == nil {
		log.Error("discovery manager: could not be created")
		os.Exit(1)
	}
	if err := mgr.ApplyConfig(map[string]discovery.Configs{job: {sd}}); err != nil {
		log.Error("apply config", "err", err)
		os.Exit(1)
	}
	go mgr.Run()

	var (
		mu     sync.RWMutex
		groups []httpGroup
		synced bool
	)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case all := <-mgr.SyncCh():
				g := flatten(all[job])
				mu.Lock()
				groups, synced = g, true
				mu.Unlock()
				log.Info("targets", "count", len(g))
			}
		}
	}()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /sd", func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		g := groups
		mu.RUnlock()
		if g == nil {
			g = []httpGroup{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(g)
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		ok := synced
		mu.RUnlock()
		if !ok {
			http.Error(w, "no discovery result yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttpHandler(reg))
	srv := &http.Server{Addr: *listen, Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("TEST INFRASTRUCTURE: upstream Prometheus Kubernetes SD served as HTTP SD", "listen", *listen, "api_server", *apiServer, "role", *role, "namespaces", namespaces.String())
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

// httpGroup is one element of the HTTP SD answer.
type httpGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// flatten turns discovery's target groups (group labels plus per-target
// labels) into HTTP SD groups of one target each, with the labels merged
// as Prometheus's scrape manager merges them (the target's own win).
func flatten(tgs []*targetgroup.Group) []httpGroup {
	var out []httpGroup
	for _, tg := range tgs {
		if tg == nil {
			continue
		}
		for _, t := range tg.Targets {
			l := map[string]string{}
			for k, v := range tg.Labels {
				l[string(k)] = string(v)
			}
			for k, v := range t {
				l[string(k)] = string(v)
			}
			addr := l[model.AddressLabel]
			delete(l, model.AddressLabel)
			if addr == "" {
				continue
			}
			out = append(out, httpGroup{Targets: []string{addr}, Labels: l})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Targets[0] < out[j].Targets[0] })
	return out
}
