"""cmlesson: the package behind the consistency-models course (lesson 11.2).

One module per concept, in four wings (the README's "The package" says which notebook introduces each; the
notation table is ``notebooks/00_notation.md``):

The method, at the top level: what the lesson teaches and every notebook imports.

======================  ==============================================================
``config``              every default, in small dataclasses with a reason on each field
``data``                2-D data sets (i.i.d.), a user's own points, sigma_data
``schedules``           noise levels (geometric, Karras) and the CT/iCT curricula
``parameterization``    c_skip, c_out, c_in, c_noise; the consistency function and the EDM denoiser
``networks``            the residual MLP backbone F(x_in, c_noise)
``samplers``            PF-ODE Euler/Heun, one- and multistep consistency sampling
``losses``              EDM, consistency distillation and training losses
``ema``                 target EMA and evaluation EMA
``training``            the one training loop and the trainers of notebooks 02-06
``cpus``                the CPUs really available, torch's thread count for one piece of work
``metrics``             exact 2-D W1, the lesson's per-dimension W1, noise floor
``yardstick``           the course's one score: W1 / noise floor over seeds, with its standard error
``checkpoints``         tiny pretrained models shipped with the package
``plotting``            the course's figures
``widgets``             live ipywidgets explorers
``checks``              the checks notebooks call (``checks.check_<id>``), and ``not_done``
``validate``            argument checks that name the parameter and its allowed range
======================  ==============================================================

``frontier/``: the labs' methods (notebooks 07-11): ``trigflow`` (sCM), ``flowmap``, ``shortcut``, ``meanflow``,
``guidance``, ``latent``, ``lcm``, ``classifier`` (the digits classifier), ``lsd`` (Lagrangian self-distillation),
``drifting`` (drifting models).

``grading/``: the instructor's wing: ``grade``, ``sandbox``, ``platforms``, ``nbgrader_course``, ``similarity``, ``report``,
``exercises/`` (one module per exercise).

``authoring/``: what builds the course: ``student`` (the student notebooks), ``course`` (setup cell, badges),
``bench`` and ``bench_frontier`` (the benchmark), ``ablate`` (one recipe change at a time, scored paired), ``scores``
(the shipped models' scores, measured once and stored), ``nbrun`` (one notebook in a fresh kernel), ``site`` (the
website), ``hosted`` (the setup cell's second half on Colab and Kaggle).
"""

import os

# OpenMP threads that spin while waiting turn a shared 2-core machine (Binder, CI, a laptop running
# two kernels) into a crawl: 100 teacher steps took 72 s instead of 2.5 s with a second job running.
# Only effective when cmlesson is imported before torch; the notebooks do so.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
