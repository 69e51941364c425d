# detzip builds each artifact [tool.detzip] in ../pyproject.toml declares, during `terraform plan`
# (a cache hit in milliseconds when nothing changed), and hands Terraform its path and hash.
# Run Terraform where `detzip` is on PATH (e.g. in the virtualenv detzip is installed in).

data "external" "deps" {
  program = ["detzip", "terraform"]
  query   = { config = "${path.module}/..", artifact = "deps" }
}

data "external" "api" {
  program = ["detzip", "terraform"]
  query   = { config = "${path.module}/..", artifact = "api" }
}

data "external" "worker" {
  program = ["detzip", "terraform"]
  query   = { config = "${path.module}/..", artifact = "worker" }
}

locals {
  zips = {
    deps   = data.external.deps.result
    api    = data.external.api.result
    worker = data.external.worker.result
  }
}
