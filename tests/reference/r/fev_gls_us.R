# Reference for the native MMRM: nlme::gls with corSymm + varIdent (unstructured
# covariance over AVISIT within USUBJID), REML, on openpharma/mmrm's fev_data.
# Writes fev_gls_us.json beside this script.
#   Rscript tests/reference/r/fev_gls_us.R [path/to/fev_data.csv]
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])), "_common.R"))
suppressPackageStartupMessages({library(nlme); library(emmeans)})
d <- read_fev()
fit_one <- function(method) {
  f <- gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT,
           correlation = corSymm(form = ~ as.integer(AVISIT) | USUBJID),
           weights = varIdent(form = ~ 1 | AVISIT), method = method, na.action = na.omit,
           data = d, control = glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 500, msMaxIter = 500))
  full <- names(which(table(d$USUBJID[!is.na(d$FEV1)]) == 4))[1]  # a patient with all four visits
  V <- getVarCov(f, individual = full)
  em <- emmeans(f, ~ ARMCD | AVISIT, mode = "df.error")
  ct <- as.data.frame(contrast(em, method = "revpairwise"))
  list(
    method = method,
    neg2_log_likelihood = -2 * as.numeric(logLik(f)),
    coef = as.list(coef(f)),
    se = as.list(sqrt(diag(vcov(f)))),
    covariance = matrix(as.numeric(V), nrow(V)),
    visits = levels(d$AVISIT),
    contrasts = list(visit = as.character(ct$AVISIT), estimate = ct$estimate, se = ct$SE)
  )
}
write_ref(list(
  source = "tests/reference/r/fev_gls_us.R",
  data = "shared/reference/mmrm/fev_data.csv (openpharma/mmrm, Apache-2.0)",
  model = "gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, corSymm(~as.integer(AVISIT)|USUBJID), varIdent(~1|AVISIT))",
  session = session(),
  reml = fit_one("REML"), ml = fit_one("ML")
), "fev_gls_us.json")
