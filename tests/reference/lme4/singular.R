# A singular random-slope fit for longmod's singular-fit flag: 12 subjects x 6 days, a random
# intercept but no random slope in the generating model, so lmer((1 + day | id)) ends on the
# boundary (slope variance 0 or correlation +-1) and lme4::isSingular(tol = 1e-4) is TRUE; the
# random-intercept fit of the same data is regular. Writes singular.csv (the data, from R's
# seeded Mersenne-Twister) and singular.json beside this script.
#   Rscript tests/reference/lme4/singular.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
set.seed(1, kind = "Mersenne-Twister", normal.kind = "Inversion")
n <- 12; days <- 0:5
d <- data.frame(id = rep(sprintf("S%02d", 1:n), each = length(days)), day = rep(days, n))
d$y <- 250 + 10 * d$day + rep(rnorm(n, 0, 30), each = length(days)) + rnorm(nrow(d), 0, 25)
d$y <- round(d$y, 6)
write.csv(d, file.path(here, "singular.csv"), row.names = FALSE)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
one <- function(form) {
  f <- lmer(as.formula(form), data = d, REML = TRUE, control = ctrl)
  v <- as.data.frame(VarCorr(f))
  list(formula = form, singular = isSingular(f, tol = 1e-4), theta = as.numeric(getME(f, "theta")),
       neg2_log_likelihood = -2 * as.numeric(logLik(f)), coef = as.list(fixef(f)),
       varcomp = list(grp = v$grp, var1 = ifelse(is.na(v$var1), "", v$var1), var2 = ifelse(is.na(v$var2), "", v$var2),
                      vcov = v$vcov, sdcor = v$sdcor))
}
res <- list(source = "tests/reference/lme4/singular.R",
            session = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            ris = one("y ~ day + (1 + day | id)"), ri = one("y ~ day + (1 | id)"))
write_json(res, file.path(here, "singular.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "singular.json"), "\n")
