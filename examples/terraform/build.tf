# detzip builds the zips during `terraform plan` (or hits its cache when nothing changed) and
# hands Terraform their paths and hashes. Run Terraform where `detzip` is on PATH (e.g. in the
# virtualenv detzip is installed in).

data "external" "layer" {
  program = ["detzip", "terraform"]
  query = {
    kind         = "layer"
    requirements = "${path.module}/../layer/requirements.txt"
    output       = "${path.module}/build/layer.zip"
    runtime      = "python3.12"
    arch         = "x86_64"
  }
}

data "external" "function" {
  program = ["detzip", "terraform"]
  query = {
    kind    = "function"
    source  = "${path.module}/../hello"
    output  = "${path.module}/build/hello.zip"
    exclude = join("\n", ["tests/", "*.md"]) # lists are newline-separated strings
  }
}

locals {
  layer_zip     = data.external.layer.result.path
  layer_hash    = data.external.layer.result.base64sha256
  function_zip  = data.external.function.result.path
  function_hash = data.external.function.result.base64sha256
}
