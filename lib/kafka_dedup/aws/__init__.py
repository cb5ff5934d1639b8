"""Run the jobs on EMR Serverless: bundle, CloudFormation deploy, job runs, status and logs."""
