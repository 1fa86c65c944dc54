# Second R reference for the unstructured MMRM: glmmTMB with us(0 + AVISIT | USUBJID)
# and no residual term (dispformula = ~0), REML, on openpharma/mmrm's fev_data.
# glmmTMB warns "false convergence (8)" on this fit (DESIGN.md): the warning is recorded.
# Writes fev_glmmtmb_us.json beside this script.
#   Rscript tests/reference/r/fev_glmmtmb_us.R [path/to/fev_data.csv]
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])), "_common.R"))
suppressPackageStartupMessages(library(glmmTMB))
d <- read_fev()
warn <- character(0)
f <- withCallingHandlers(
  glmmTMB(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(0 + AVISIT | USUBJID), dispformula = ~0,
          REML = TRUE, data = d[!is.na(d$FEV1), ]),
  warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
V <- VarCorr(f)$cond$USUBJID
write_ref(list(
  source = "tests/reference/r/fev_glmmtmb_us.R",
  data = "shared/reference/mmrm/fev_data.csv (openpharma/mmrm, Apache-2.0)",
  model = "glmmTMB(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(0 + AVISIT | USUBJID), dispformula = ~0, REML = TRUE)",
  session = session(),
  warnings = I(warn),
  neg2_log_likelihood = -2 * as.numeric(logLik(f)),
  coef = as.list(fixef(f)$cond),
  covariance = matrix(as.numeric(V), nrow(V)),
  visits = levels(d$AVISIT)
), "fev_glmmtmb_us.json")
