// Package dashboards holds vfleet's Grafana dashboards (the JSON files
// here) and the test that parses their queries. It is a module of its own
// so that Prometheus' PromQL parser, which the test uses, and its many
// dependencies stay out of vfleet's build. make dashboards-check evaluates
// the same queries against a real Prometheus scraping a lab.
package dashboards
