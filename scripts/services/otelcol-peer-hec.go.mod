module aegisbpf.local/otelcol-aegis-peer-hec

go 1.25.0

// The prepared go.mod for otelcol-peer-hec.builder.yaml (see there why): the components and the collector core
// modules the generated sources import, at the release of the manifest; `go mod tidy -e` adds the rest.
require (
	github.com/open-telemetry/opentelemetry-collector-contrib/exporter/splunkhecexporter v0.157.0
	github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver v0.157.0
	go.opentelemetry.io/collector/component v1.63.0
	go.opentelemetry.io/collector/confmap v1.63.0
	go.opentelemetry.io/collector/confmap/provider/envprovider v1.63.0
	go.opentelemetry.io/collector/confmap/provider/fileprovider v1.63.0
	go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.63.0
	go.opentelemetry.io/collector/connector v0.157.0
	go.opentelemetry.io/collector/exporter v1.63.0
	go.opentelemetry.io/collector/extension v1.63.0
	go.opentelemetry.io/collector/otelcol v0.157.0
	go.opentelemetry.io/collector/processor v1.63.0
	go.opentelemetry.io/collector/receiver v1.63.0
	go.opentelemetry.io/collector/service v0.157.0
)
