package cli

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
)

// TestDeployFilesAgree: the compose file's llmgate config is valid and
// multi-replica safe (shared store and rate limits), and the compose file,
// nginx config and Dockerfile agree with it.
func TestDeployFilesAgree(t *testing.T) {
	env := map[string]string{"LLMGATE_MASTER_KEY": "m", "POSTGRES_PASSWORD": "p"}
	cfg, err := config.Load("../../deploy/llmgate.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("deploy/llmgate.yaml: %v", err)
	}
	if _, err := buildParts(cfg, nil, gateway.Options{}); err != nil {
		t.Fatalf("deploy/llmgate.yaml does not build: %v", err)
	}
	if cfg.Storage.Driver != "postgres" || cfg.Governance.Redis.Addr != "redis:6379" {
		t.Errorf("replicas must share PostgreSQL and Redis; got storage %q, redis %q", cfg.Storage.Driver, cfg.Governance.Redis.Addr)
	}
	if !cfg.AuthRequired() || !cfg.MetricsProtected() {
		t.Errorf("the compose gateway listens on %s but does not require keys", cfg.Listen)
	}

	data, err := os.ReadFile("../../deploy/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command         []string               `yaml:"command"`
			Deploy          struct{ Replicas int } `yaml:"deploy"`
			Volumes         []string               `yaml:"volumes"`
			StopGracePeriod string                 `yaml:"stop_grace_period"`
			Environment     map[string]string      `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	gw, ok := compose.Services["llmgate"]
	if !ok {
		t.Fatal("docker-compose.yml has no llmgate service")
	}
	if gw.Deploy.Replicas != 3 {
		t.Errorf("llmgate replicas = %d, want 3", gw.Deploy.Replicas)
	}
	for _, s := range []string{"postgres", "redis", "lb"} {
		if _, ok := compose.Services[s]; !ok {
			t.Errorf("docker-compose.yml has no %s service", s)
		}
	}
	i := slices.Index(gw.Command, "--config")
	if i < 0 || i+1 >= len(gw.Command) || !slices.Contains(gw.Volumes, "./llmgate.yaml:"+gw.Command[i+1]+":ro") {
		t.Errorf("llmgate's --config %v is not the mounted ./llmgate.yaml (%v)", gw.Command, gw.Volumes)
	}
	grace, err := time.ParseDuration(gw.StopGracePeriod)
	if err != nil || grace <= cfg.Server.ShutdownTimeout {
		t.Errorf("stop_grace_period %q must exceed server.shutdown_timeout %s, or SIGKILL cuts the drain", gw.StopGracePeriod, cfg.Server.ShutdownTimeout)
	}
	for _, k := range []string{"LLMGATE_MASTER_KEY", "POSTGRES_PASSWORD"} {
		if gw.Environment[k] == "" {
			t.Errorf("llmgate's environment lacks %s, which llmgate.yaml uses", k)
		}
	}
	nginx, err := os.ReadFile("../../deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server llmgate:8766", "proxy_buffering off", "client_max_body_size 32m"} {
		if !strings.Contains(string(nginx), want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	docker, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532", "EXPOSE 8766"} {
		if !strings.Contains(string(docker), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
