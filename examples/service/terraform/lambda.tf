# Every zip comes from local.zips (path and base64sha256 of each artifact), filled by build.tf.

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
  filename                 = local.zips.deps.path
  source_code_hash         = local.zips.deps.base64sha256
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["arm64"]
}

resource "aws_lambda_function" "api" {
  function_name    = "orders-api"
  role             = aws_iam_role.lambda.arn
  runtime          = "python3.12"
  architectures    = ["arm64"]
  handler          = "app.handler"
  filename         = local.zips.api.path
  source_code_hash = local.zips.api.base64sha256
  layers           = [aws_lambda_layer_version.deps.arn]
}

resource "aws_lambda_function" "worker" {
  function_name    = "orders-worker"
  role             = aws_iam_role.lambda.arn
  runtime          = "python3.12"
  architectures    = ["arm64"]
  handler          = "app.handler"
  filename         = local.zips.worker.path
  source_code_hash = local.zips.worker.base64sha256
  layers           = [aws_lambda_layer_version.deps.arn]
  timeout          = 30
}
