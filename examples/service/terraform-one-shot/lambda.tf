# The same stack as ../terraform/, from the one data source in build.tf: every function the
# project declares becomes a Lambda function (for_each over the names), with its layers. Adding a
# function to pyproject.toml adds it here without touching this file.

locals {
  # every artifact has a path; only functions have layers (the name is what precedes the last dot)
  functions  = toset([for key in keys(local.built) : trimsuffix(key, ".layers") if endswith(key, ".layers")])
  layer_arns = { deps = aws_lambda_layer_version.deps.arn }
}

resource "aws_iam_role" "lambda" {
  name = "orders-service"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "orders-deps"
  filename                 = local.built["deps.path"]
  source_code_hash         = local.built["deps.base64sha256"]
  compatible_runtimes      = [local.built["deps.runtime"]]
  compatible_architectures = [local.built["deps.arch"]]
}

resource "aws_lambda_function" "fn" {
  for_each         = local.functions
  function_name    = "orders-${each.key}"
  role             = aws_iam_role.lambda.arn
  runtime          = local.built["${each.key}.runtime"]
  architectures    = [local.built["${each.key}.arch"]]
  handler          = lookup(local.built, "${each.key}.handler", "app.handler")
  filename         = local.built["${each.key}.path"]
  source_code_hash = local.built["${each.key}.base64sha256"]
  layers           = [for name in compact(split("\n", local.built["${each.key}.layers"])) : local.layer_arns[name]]
  timeout          = 30
}

output "hashes" {
  value = { for key, value in local.built : trimsuffix(key, ".base64sha256") => value if endswith(key, ".base64sha256") }
}
