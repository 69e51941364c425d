# One data source for the whole project: `detzip terraform` builds (or finds in the cache) every
# artifact [tool.detzip] in ../pyproject.toml declares, in one process per plan instead of one
# per artifact, and returns one flat object of strings: "api.path", "api.base64sha256",
# "api.layers", "deps.path", … (the external protocol allows strings only).
# Run Terraform where `detzip` is on PATH (e.g. in the virtualenv detzip is installed in).

data "external" "detzip" {
  program = ["detzip", "terraform"]
  query   = { config = "${path.module}/..", artifacts = "*" }
}

locals {
  built = data.external.detzip.result
}
