"""The offline engine's provider mocks, one module per provider (aws, gcp, tls, random,
kubernetes) on a shared base; `fleet.FleetMocks` is what the engine runs."""
